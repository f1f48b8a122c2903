import { LindenError } from '../protocol/errors.js';
import { NO_HEADERS, someHeaders, type Headers } from '../protocol/headers.js';
import type { AckLevel, BatchedFrame, BrokerFrame, CountedFrame, EventFrame, LeaseFrame, SpaceEvent, TupleEntry, TupleFrame, TuplesFrame } from '../protocol/frames.js';
import { QueuedIterator } from './queued-iterator.js';

/** What a Space needs from its client. */
export interface SpaceHost {
  call(frame: Record<string, unknown>, timeout?: number): Promise<BrokerFrame>;
  /** Sends a frame nobody waits an answer for. */
  cast(frame: Record<string, unknown>): void;
  toWire(values: unknown): unknown;
  fromWire(wire: unknown): unknown;
  addNotification(n: Notification<any>): void;
  removeNotification(nid: number): void;
}

export interface Lease {
  /** The tuple id, for renew() and cancel(). */
  id: string;
  /** Lease end in ms since the epoch; null without a lease. */
  expiresAt: number | null;
  /** The lease granted, which may be shorter than asked (then `shortened`). */
  ttl: number | null;
  shortened: boolean;
  /** With ack 'delivery' or 'processing': the stage waited for. */
  stage?: 'delivery' | 'processing';
  /** With ack 'delivery' or 'processing': a taker reached the stage (false when the tuple expired or was cancelled first, or on timeout). */
  reached?: boolean;
  timedOut?: boolean;
  /**
   * A scheduled out (`delay`/`deliverAt`): when the tuple enters the space, in ms since the epoch.
   * `id` is then the schedule's id, for `client.cancelScheduled(id)`; the tuple gets an id of its own when it enters.
   */
  due?: number;
}

export interface SpaceOptions {
  /**
   * true: the broker keeps the space's tuples in its store (with a data folder they survive a
   * restart) and answers an `out` once its tuple is on disk. false: explicitly transient.
   * The broker sets the mode of an empty space from the first out or batch that states one; an
   * out or batch stating the other mode of a space that holds tuples fails with
   * SPACE_MODE_CONFLICT. Default: unstated, the space stays as it is (transient when new).
   */
  persistent?: boolean;
}

export interface OutOptions {
  /** Lease in ms; the tuple disappears when it ends. Default: no lease. */
  ttl?: number;
  /**
   * 'submission' (default) resolves once the broker has the tuple; 'none' does not wait;
   * 'delivery' once an `in` has taken it (under reservation or for good); 'processing' once the
   * taker is done with it (a plain `in`, or the ack of a reserved one).
   */
  ack?: AckLevel;
  /** With 'delivery' or 'processing': resolve with `timedOut` after this many ms (default: the broker's receiptTimeoutMs). */
  timeout?: number;
  /**
   * Headers kept with the tuple and returned with it to takers, readers and notify subscribers
   * (ask for them with `{ entry: true }`): at most 32, names of 1-64 characters, values of at most 1024.
   */
  headers?: Record<string, string>;
  /**
   * Scheduled delivery: the tuple enters the space this many ms from now (`delay`) or at
   * `deliverAt` (ms since the epoch), never earlier. Stored at once in a persistent space.
   * 'delivery'/'processing' and their `timeout` count from the due time.
   */
  delay?: number;
  deliverAt?: number;
}

export interface ReadOptions {
  /** Resolve null after this many ms without a match. Default: wait until one arrives. */
  timeout?: number;
  /** Ends the wait (the promise resolves null). */
  signal?: AbortSignal;
}

export interface ReserveOptions extends ReadOptions {
  /** Hold the tuple for this many ms; it returns to the space unless ack() comes first. */
  reserve: number;
}

/** What `{ entry: true }` asks of in, rd, inp, rdp, inAll and rdAll: the tuple with what the broker keeps beside it. */
export interface EntryOption {
  entry: true;
}

export interface Entry<T extends unknown[]> {
  /** The tuple id, for renew() and cancel(). */
  id: string;
  tuple: T;
  /** Its writer's headers (`out(tuple, { headers })`); `{}` when it gave none. Read-only. */
  headers: Readonly<Headers>;
  /** Lease end in ms since the epoch; null without a lease. */
  expiresAt: number | null;
}

/** A tuple taken under reservation: ack() removes it for good, nack() puts it back where it was. */
export interface Reserved<T extends unknown[]> {
  id: string;
  tuple: T;
  /** Its writer's headers; `{}` when it gave none. */
  headers: Readonly<Headers>;
  ack(): Promise<void>;
  nack(): Promise<void>;
}

export interface TupleEvent<T extends unknown[]> {
  type: SpaceEvent;
  /** Per-subscription sequence number, from 1. */
  seq: number;
  id: string;
  tuple: T;
  /** Its writer's headers; `{}` when it gave none. */
  headers: Readonly<Headers>;
}

export type BatchStep = { inp: unknown[] } | { rdp: unknown[] } | { out: unknown[]; ttl?: number; headers?: Record<string, string> };
export interface BatchResult { id: string; tuple: unknown[]; headers: Readonly<Headers> }

/** Events of a notify subscription, read with `for await`; `ready` once the broker has it. */
export class Notification<T extends unknown[]> extends QueuedIterator<TupleEvent<T>> {
  readonly ready: Promise<void>;
  /** @internal */ settleReady!: (err?: Error) => void;

  constructor(readonly nid: number, readonly spaceName: string, readonly template: unknown[], readonly events: SpaceEvent[], onReturn: () => void) {
    super(onReturn);
    this.ready = new Promise((resolve, reject) => {
      this.settleReady = (err) => (err ? reject(err) : resolve());
    });
    this.ready.catch(() => {});
  }
}

/** A named tuple space, created on the broker on first use. */
export class Space {
  private static nextNid = 1;

  constructor(readonly name: string, private readonly host: SpaceHost, readonly options: Readonly<SpaceOptions> = {}) {}

  /** Writes a tuple: a non-empty array of MessagePack values. */
  out(tuple: unknown[], options: OutOptions = {}): Promise<Lease | undefined> {
    // Not async: an `out` with ack 'none' costs no promise of its own (issue 14: out -> in pairs).
    try {
      const frame: Record<string, unknown> = { t: 'out', space: this.name, tuple: this.host.toWire(tuple) };
      if (this.options.persistent !== undefined) frame.persistent = this.options.persistent;
      if (options.ttl !== undefined) frame.ttl = options.ttl;
      const hdr = someHeaders(options.headers);
      if (hdr !== undefined) frame.hdr = hdr;
      const scheduled = options.delay !== undefined || options.deliverAt !== undefined;
      if (options.delay !== undefined) frame.delay = options.delay;
      if (options.deliverAt !== undefined) frame.deliverAt = options.deliverAt;
      const ack = options.ack ?? 'submission';
      if (ack === 'none') {
        this.host.cast(frame);
        return NOTHING;
      }
      frame.ack = ack;
      if (options.timeout !== undefined) frame.timeout = options.timeout;
      const waits = ack === 'delivery' || ack === 'processing';
      return this.host.call(frame, waits && !scheduled ? options.timeout : undefined).then(toLease);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Takes the oldest matching tuple, waiting for one; null on timeout or abort. With
   * `{ entry: true }` it resolves with the tuple's Entry (id, headers, lease) instead.
   */
  in<T extends unknown[] = unknown[]>(template: unknown[], options: ReserveOptions): Promise<Reserved<T> | null>;
  in<T extends unknown[] = unknown[]>(template: unknown[], options: ReadOptions & EntryOption): Promise<Entry<T> | null>;
  in<T extends unknown[] = unknown[]>(template: unknown[], options?: ReadOptions): Promise<T | null>;
  in<T extends unknown[]>(
    template: unknown[], options: ReadOptions & { reserve?: number; entry?: boolean } = {},
  ): Promise<T | Entry<T> | Reserved<T> | null> {
    const reply = this.read('in', template, true, options);
    if (options.reserve === undefined) return reply.then(this.answerOf(options.entry));
    return reply.then((r) => this.reservedOf<T>(r));
  }

  /** Reads (without taking) the oldest matching tuple, waiting for one; null on timeout or abort. */
  rd<T extends unknown[] = unknown[]>(template: unknown[], options: ReadOptions & EntryOption): Promise<Entry<T> | null>;
  rd<T extends unknown[] = unknown[]>(template: unknown[], options?: ReadOptions): Promise<T | null>;
  rd<T extends unknown[]>(template: unknown[], options: ReadOptions & { entry?: boolean } = {}): Promise<T | Entry<T> | null> {
    return this.read('rd', template, true, options).then(this.answerOf(options.entry));
  }

  /** `in` without waiting. */
  inp<T extends unknown[] = unknown[]>(template: unknown[], options: EntryOption): Promise<Entry<T> | null>;
  inp<T extends unknown[] = unknown[]>(template: unknown[]): Promise<T | null>;
  inp<T extends unknown[]>(template: unknown[], options: { entry?: boolean } = {}): Promise<T | Entry<T> | null> {
    return this.read('in', template, false, {}).then(this.answerOf(options.entry));
  }

  /** `rd` without waiting. */
  rdp<T extends unknown[] = unknown[]>(template: unknown[], options: EntryOption): Promise<Entry<T> | null>;
  rdp<T extends unknown[] = unknown[]>(template: unknown[]): Promise<T | null>;
  rdp<T extends unknown[]>(template: unknown[], options: { entry?: boolean } = {}): Promise<T | Entry<T> | null> {
    return this.read('rd', template, false, {}).then(this.answerOf(options.entry));
  }

  /** Takes up to `limit` matching tuples (default 1,000), oldest first, without waiting. */
  inAll<T extends unknown[] = unknown[]>(template: unknown[], options: { limit?: number } & EntryOption): Promise<Entry<T>[]>;
  inAll<T extends unknown[] = unknown[]>(template: unknown[], options?: { limit?: number }): Promise<T[]>;
  inAll<T extends unknown[]>(template: unknown[], options: { limit?: number; entry?: boolean } = {}): Promise<T[] | Entry<T>[]> {
    return this.all<T>('in', template, options.limit, options.entry);
  }

  rdAll<T extends unknown[] = unknown[]>(template: unknown[], options: { limit?: number } & EntryOption): Promise<Entry<T>[]>;
  rdAll<T extends unknown[] = unknown[]>(template: unknown[], options?: { limit?: number }): Promise<T[]>;
  rdAll<T extends unknown[]>(template: unknown[], options: { limit?: number; entry?: boolean } = {}): Promise<T[] | Entry<T>[]> {
    return this.all<T>('rd', template, options.limit, options.entry);
  }

  async count(template: unknown[]): Promise<number> {
    const reply = (await this.host.call({ t: 'count', space: this.name, template: this.host.toWire(template) })) as CountedFrame;
    return reply.count;
  }

  /** Events for tuples matching `template`, by default all of out, in and expire. */
  notify<T extends unknown[] = unknown[]>(template: unknown[], options: { events?: SpaceEvent[] } = {}): Notification<T> {
    const nid = Space.nextNid++;
    const events = options.events ?? ['out', 'in', 'expire'];
    const n: Notification<T> = new Notification<T>(nid, this.name, template, events, () => this.host.removeNotification(nid));
    this.host.addNotification(n);
    return n;
  }

  async renew(id: string, ttl: number): Promise<Lease> {
    return toLease((await this.host.call({ t: 'renew', space: this.name, tid: id, ttl })) as LeaseFrame);
  }

  async cancel(id: string): Promise<void> {
    await this.host.call({ t: 'cancel', space: this.name, tid: id });
  }

  /**
   * Runs non-blocking steps atomically: resolves with each step's tuple, or rejects with
   * BATCH_FAILED (naming the step) leaving the space untouched when an inp/rdp finds nothing.
   */
  async batch(steps: BatchStep[]): Promise<BatchResult[]> {
    const wire = steps.map((step) => {
      if ('out' in step) {
        const out: Record<string, unknown> = { op: 'out', tuple: this.host.toWire(step.out) };
        if (step.ttl !== undefined) out.ttl = step.ttl;
        const hdr = someHeaders(step.headers);
        if (hdr !== undefined) out.hdr = hdr;
        return out;
      }
      if ('inp' in step) return { op: 'inp', template: this.host.toWire(step.inp) };
      if ('rdp' in step) return { op: 'rdp', template: this.host.toWire(step.rdp) };
      throw new LindenError('INVALID_ARGUMENT', 'a batch step is { inp }, { rdp } or { out, ttl?, headers? }');
    });
    const frame: Record<string, unknown> = { t: 'batch', space: this.name, steps: wire };
    if (this.options.persistent !== undefined) frame.persistent = this.options.persistent;
    const reply = (await this.host.call(frame)) as BatchedFrame;
    return reply.results.map((r) => ({ id: r.tid, tuple: this.host.fromWire(r.tuple) as unknown[], headers: r.hdr ?? NO_HEADERS }));
  }

  /**
   * Sends an in/rd and resolves with the broker's `tuple` answer. Without a signal it is the
   * request's own promise: no async frame or extra promise per read (issue 14: out -> in pairs).
   */
  private read(op: 'in' | 'rd', template: unknown[], wait: boolean, options: ReadOptions & { reserve?: number }): Promise<TupleFrame> {
    let frame: Record<string, unknown>;
    try {
      frame = { t: op, space: this.name, template: this.host.toWire(template) };
    } catch (err) {
      return Promise.reject(err);
    }
    if (!wait) frame.wait = false;
    if (options.timeout !== undefined) frame.timeout = options.timeout;
    if (options.reserve !== undefined) frame.reserve = options.reserve;
    if (options.signal === undefined) return this.host.call(frame, options.timeout) as Promise<TupleFrame>;
    return this.abortable(frame, options.timeout, options.signal);
  }

  private async abortable(frame: Record<string, unknown>, timeout: number | undefined, signal: AbortSignal): Promise<TupleFrame> {
    if (signal.aborted) return { t: 'tuple', re: 0, tuple: null, aborted: true };
    const reply = this.host.call(frame, timeout);
    const onAbort = () => { this.host.call({ t: 'abort', target: frame.id }).catch(() => {}); };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return (await reply) as TupleFrame;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private async all<T extends unknown[]>(op: 'in' | 'rd', template: unknown[], limit = 1_000, entry = false): Promise<T[] | Entry<T>[]> {
    const reply = (await this.host.call({ t: op, space: this.name, template: this.host.toWire(template), limit })) as TuplesFrame;
    if (!entry) return reply.items.map((item: TupleEntry) => this.host.fromWire(item.tuple) as T);
    return reply.items.map((item: TupleEntry) => ({
      id: item.tid, tuple: this.host.fromWire(item.tuple) as T, headers: item.hdr ?? NO_HEADERS, expiresAt: item.expiresAt,
    }));
  }

  /** What turns a `tuple` answer into what the caller asked for: the tuple alone, or its Entry. */
  private answerOf(entry: boolean | undefined): (reply: TupleFrame) => any {
    return entry ? this.entryOf : this.tupleOf;
  }

  /** A `tuple` answer as the tuple alone; made once, not a closure per read. */
  private readonly tupleOf = (reply: TupleFrame): unknown[] | null => (reply.tuple ? (this.host.fromWire(reply.tuple) as unknown[]) : null);

  /** A `tuple` answer as its Entry. */
  private readonly entryOf = (reply: TupleFrame): Entry<unknown[]> | null => {
    if (!reply.tuple) return null;
    return { id: reply.tid!, tuple: this.host.fromWire(reply.tuple) as unknown[], headers: reply.hdr ?? NO_HEADERS, expiresAt: reply.expiresAt ?? null };
  };

  /** A `tuple` answer to an `in` with `reserve`: the tuple, with ack() and nack() to settle it. */
  private reservedOf<T extends unknown[]>(reply: TupleFrame): Reserved<T> | null {
    const entry = this.entryOf(reply);
    if (!entry) return null;
    const rid = reply.rid!;
    const settle = async (ok: boolean) => { await this.host.call({ t: 'settle', rid, ok }); };
    return { id: entry.id, tuple: entry.tuple as T, headers: entry.headers, ack: () => settle(true), nack: () => settle(false) };
  }
}

/** @internal Turns an event frame into what a notify iterator yields. */
export function toEvent(frame: EventFrame, fromWire: (w: unknown) => unknown): TupleEvent<unknown[]> {
  return { type: frame.type, seq: frame.seq, id: frame.tid, tuple: fromWire(frame.tuple) as unknown[], headers: frame.hdr ?? NO_HEADERS };
}

/** What an `out` with ack 'none' resolves with, made once. */
const NOTHING: Promise<undefined> = Promise.resolve(undefined);

function toLease(frame: BrokerFrame): Lease {
  const f = frame as LeaseFrame;
  const lease: Lease = { id: f.tid, expiresAt: f.expiresAt, ttl: f.ttl, shortened: f.shortened };
  if (f.stage !== undefined) Object.assign(lease, { stage: f.stage, reached: f.reached, timedOut: f.timedOut });
  if (f.due !== undefined) lease.due = f.due;
  return lease;
}
