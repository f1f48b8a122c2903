import type { Key, Store, StoreWrite } from '../../store/store.js';
import {
  countersKey, deleteDeliveries, deleteMessage, deliveriesPrefix, expiryOfRecord, messagesPrefix,
  type QueueConfig, type QueueCounters, type QueuedMessage,
} from './queue-records.js';
import { Backlog } from './backlog.js';
import { deleteRange } from './range-delete.js';
import { DeferredWrites } from './deferred-writes.js';
import { firstBySeq } from '../../first-by-seq.js';
import { ReadyLine } from './ready-line.js';
import type { DurableQueue } from './durable-queue.js';

export interface QueueHost {
  readonly store: Store;
  /** How many ready messages a queue keeps in memory; the rest wait in the store (Infinity: all in memory). */
  readonly window: number;
  /** The seq the next new message will get: everything the queue holds now is below it. */
  readonly nextSeq: number;
  /** Calls expire(message) on this queue when the message's ttl ends. */
  expireAt(queue: QueueLine, message: QueuedMessage): void;
  /** A message with a ttl ending at `at` went to the backlog: the ttl index is to be swept by then. */
  expiresInBacklog(at: number): void;
  /** The message left the queue: its ttl no longer matters, and must not keep it reachable. */
  forgetExpiry(message: QueuedMessage): void;
  /** The dead-letter queue `<name>.dlq`, created on first use. */
  deadLetters(of: DurableQueue): DurableQueue;
  /** A store write failed: the broker can no longer keep its promises for this data. */
  storeFailed(err: unknown): void;
  /** The broker is draining: no delivery starts; what is not in flight stays stored for after the restart. */
  readonly paused: boolean;
  /** While paused: this queue has nothing in flight any more. */
  inFlightEnded(): void;
}

/**
 * What a durable subscription holds and where (DESIGN.md §5 "Backlog"): its ready messages in
 * memory up to the host's window (`ready`, topped up from the store as it empties) and in the
 * store beyond it (`backlog`); `count` and `bytes` of everything it holds, stored (counters())
 * in every write that changes them, so a restart reads them and the head of the line instead of
 * every message; and the writes that keep the store in step. DurableQueue adds the consumers.
 */
export abstract class QueueLine {
  protected readonly ready = new ReadyLine();
  protected readonly backlog: Backlog;
  /** Ready messages being deleted from the store by a purge, still counted in count and bytes until their deletes are issued. */
  protected purging = NOT_PURGING;
  private deferredWrites: DeferredWrites | undefined;
  private countersKey: Key | undefined;
  count = 0;
  bytes = 0;
  /**
   * Every message below this seq was delivered once, unless its count record (['n', name, seq])
   * says otherwise; stored with the counters. A queue hands out its first deliveries in seq
   * order, so one number stands for them all and a delivery costs no write of its own: only a
   * redelivery, or a count taken back, writes a record (issue 21: drain rate). A dead-letter
   * queue takes old seqs in any order, so it keeps 0 and a record for every delivered message.
   */
  protected deliveredBelow = 0;
  /** `purged`: ready messages an operator dropped; `retried`: messages taken back from `<name>.dlq` (admin ops). */
  readonly stats = { published: 0, delivered: 0, acked: 0, redelivered: 0, deadLettered: 0, expired: 0, dropped: 0, purged: 0, retried: 0 };

  constructor(
    readonly name: string,
    readonly pattern: string | null,
    public config: QueueConfig,
    protected readonly host: QueueHost,
    readonly createdAt = Date.now(),
    /** The seq of the queue's first message: older records under its name are a deleted namesake's. */
    readonly firstSeq = host.nextSeq,
  ) {
    this.backlog = new Backlog(host.store, name, firstSeq, this);
  }

  get readyCount(): number {
    return this.ready.size + this.backlog.count;
  }

  /** Delivery counts and deletions, stored together once per tick (on a store on disk). */
  get deferred(): DeferredWrites {
    return (this.deferredWrites ??= new DeferredWrites(() => this.flushDeferred()));
  }

  /** The deferred writes, to go first in a write about to be issued (DeferredWrites.take). */
  takeDeferred(): ReturnType<DeferredWrites['take']> {
    return this.deferredWrites?.take();
  }

  /**
   * Issues the deferred writes now, with the counters: before a change whose write does not take
   * them (takeDeferred()) but whose counters would count them.
   */
  flushDeferred(): void {
    if (this.deferredWrites?.pending) this.persist([this.counters()]);
  }

  /**
   * The queue's counters as the store keeps them, to go in every write that changes them. Always
   * under the same key array: the store then keeps only the last of a tick's (LmdbStore's group).
   */
  counters(): StoreWrite {
    const c: QueueCounters = { count: this.count, bytes: this.bytes };
    if (this.deliveredBelow > 0) c.delivered = this.deliveredBelow;
    return { key: (this.countersKey ??= countersKey(this.name)), value: c };
  }

  /** The delivery count of message `seq` when it has no count record (deliveredBelow). */
  impliedDeliveries(seq: number): number {
    return seq < this.deliveredBelow ? 1 : 0;
  }

  /** For the backlog: a message whose write resolved after its ttl ended. */
  expiresInBacklog(at: number): void {
    this.host.expiresInBacklog(at);
  }

  /**
   * At start: the counters and the head of the line from the store, the rest left there. Returns
   * the highest seq the queue holds (-1 for none). A store written before counters existed is
   * counted, once per start until the queue's next write stores them.
   */
  restore(stored: QueueCounters | undefined): number {
    const store = this.host.store;
    const prefix = messagesPrefix(this.name);
    if (!stored) {
      stored = { count: 0, bytes: 0 };
      for (const [, value] of store.range(prefix, { from: [this.firstSeq] })) {
        stored.count++;
        stored.bytes += (value as { data: Uint8Array }).data.length;
      }
    }
    this.count = stored.count;
    this.bytes = stored.bytes;
    this.deliveredBelow = stored.delivered ?? 0;
    this.backlog.count = stored.count;
    this.backlog.bytes = stored.bytes;
    const counts = store.range(deliveriesPrefix(this.name), { from: [this.firstSeq] });
    if (counts.length > 0) this.backlog.deliveries = new Map(counts.map(([key, n]) => [key[2] as number, n as number]));
    this.refill();
    const last = store.range(prefix, { reverse: true, limit: 1 })[0];
    return last && typeof last[0][2] === 'number' ? last[0][2] : -1;
  }

  /** Whether a message of `bytes` fits, counting what drop-oldest may drop: ready messages, never one in flight. */
  canTake(bytes: number): boolean {
    const fits = (count: number, size: number) => count + 1 <= this.config.maxMessages && size + bytes <= this.config.maxBytes;
    if (fits(this.count, this.bytes)) return true;
    if (this.config.overflow === 'reject') return false;
    return fits(this.count - this.readyCount - this.purging.count, this.bytes - this.ready.bytes - this.backlog.bytes - this.purging.bytes);
  }

  /** Drops the oldest ready messages until one of `bytes` fits (after canTake); returns the store writes. */
  makeRoom(bytes: number): StoreWrite[] {
    const writes: StoreWrite[] = [];
    while (this.count + 1 > this.config.maxMessages || this.bytes + bytes > this.config.maxBytes) {
      const oldest = this.nextReady();
      if (!oldest) break;
      this.forget(oldest);
      oldest.watch?.lost();
      this.stats.dropped++;
      writes.push(...deleteMessage(this.name, oldest, this.impliedDeliveries(oldest.seq)));
    }
    return writes;
  }

  /**
   * Counts a message the caller is about to store here, before it takes counters() for that
   * write; enqueue() puts it in line once the write is issued. Taken back from the dead-letter
   * queue, it is not counted as published.
   */
  admit(message: QueuedMessage, how: 'published' | 'retried' = 'published'): void {
    this.count++;
    this.bytes += message.data.length;
    if (how === 'published') this.stats.published++;
    else if (how === 'retried') this.stats.retried++;
  }

  /** A message whose store write failed leaves, unless a consumer already has it; counted as dropped. */
  withdraw(message: QueuedMessage): void {
    if (!this.ready.remove(message) && !this.backlog.withdraw(message)) return;
    this.forget(message);
    this.stats.dropped++;
    message.watch?.lost();
  }

  /** Whether `count` more messages of `bytes` in all fit the limits without dropping anything. */
  fits(count: number, bytes: number): boolean {
    return this.count + count <= this.config.maxMessages && this.bytes + bytes <= this.config.maxBytes;
  }

  /**
   * Drops the ready messages, leaving those in flight or waiting out a nack delay: their consumers
   * are working on them. Returns how many went and `durable`, which resolves once their deletion
   * is stored: the window's at once, the backlog's on disk in pieces, each with the counters as
   * they then are, so a crash half way leaves the rest counted and in line.
   */
  purgeReady(): { purged: number; durable: Promise<void> | undefined } {
    const writes: StoreWrite[] = [];
    const gone = this.ready.clear();
    for (const m of gone) {
      this.forget(m);
      m.watch?.lost();
      writes.push(...deleteMessage(this.name, m, this.impliedDeliveries(m.seq)));
    }
    const backlog = this.backlog.clear(this.host.nextSeq);
    for (const w of backlog.watches) w.lost();
    for (const m of backlog.pending) writes.push(...deleteMessage(this.name, m, this.impliedDeliveries(m.seq)));
    for (const seq of backlog.counted) writes.push(deleteDeliveries(this.name, seq));
    const pendingBytes = backlog.pending.reduce((n, m) => n + m.data.length, 0);
    this.count -= backlog.pending.length;
    this.bytes -= pendingBytes;
    this.purging = { count: backlog.count - backlog.pending.length, bytes: backlog.bytes - pendingBytes };
    const purged = gone.length + backlog.count;
    this.stats.purged += purged;
    if (writes.length > 0) writes.push(this.counters());
    const first = writes.length > 0 ? this.persist(writes) : undefined;
    if (this.purging.count === 0) return { purged, durable: first };
    // Messages that joined in memory since (a dead letter keeps its old seq) are not the purge's.
    const kept = (): Set<number> => new Set([...this.ready.values(), ...this.outOfLine()].map((m) => m.seq));
    const rest = deleteRange(this.host.store, messagesPrefix(this.name), backlog.from, this.backlog.from, (deleted) => {
      this.flushDeferred();
      const inMemory = kept();
      const mine = deleted.filter(([key]) => !inMemory.has(key[2] as number));
      for (const [, value] of mine) {
        const bytes = (value as { data: Uint8Array }).data.length;
        this.count--;
        this.bytes -= bytes;
        this.purging.count--;
        this.purging.bytes -= bytes;
      }
      return { keep: inMemory, writes: [...mine.flatMap(([k, v]) => expiryOfRecord(this.name, k, v)), this.counters()] };
    });
    return { purged, durable: Promise.all([first, rest]).then(() => undefined) };
  }

  /**
   * Takes ready messages out, oldest first, while `take` accepts the next one; the caller stores
   * them elsewhere and deletes them here in one write (dead-letter retry).
   */
  takeReady(take: (m: QueuedMessage) => boolean): QueuedMessage[] {
    const out: QueuedMessage[] = [];
    for (let m = this.peekReady(1)[0]; m && take(m); m = this.peekReady(1)[0]) {
      this.nextReady();
      this.forget(m);
      out.push(m);
    }
    return out;
  }

  /** The first `n` ready messages in line, for `peek`; nothing changes. */
  peekReady(n: number): QueuedMessage[] {
    const inMemory = firstBySeq(this.ready.values(), n);
    return inMemory.length >= n ? inMemory : [...inMemory, ...this.backlog.peek(n - inMemory.length)];
  }

  /** The first ready message, out of line; the window is topped up from the backlog once half empty. */
  protected nextReady(): QueuedMessage | undefined {
    if (this.ready.size <= this.host.window / 2 && this.backlog.count > 0) this.refill();
    return this.ready.pop();
  }

  /** Moves the head of the backlog into the window, up to the window's size. */
  protected refill(): void {
    const room = Math.min(this.host.window, 65_536) - this.ready.size;
    for (const m of this.backlog.take(room)) this.toWindow(m);
  }

  protected toWindow(message: QueuedMessage): void {
    this.ready.push(message);
    if (Number.isFinite(message.expiresAt)) this.host.expireAt(this, message);
  }

  protected forget(m: QueuedMessage): void {
    this.count--;
    this.bytes -= m.data.length;
    this.host.forgetExpiry(m);
  }

  /**
   * Issues `writes` after this queue's deferred ones (and those of `others` the writes touch), in
   * one transaction; `later` defers them instead, on a store on disk, to the end of the tick.
   * Counters in `writes` must be taken after every change the deferred writes stand for.
   */
  protected persist(writes: StoreWrite[], later = false, ...others: QueueLine[]): Promise<void> | undefined {
    if (later && this.host.store.durable) return this.deferred.add(writes);
    const taken = [this, ...others].map((q) => q.takeDeferred());
    const all = taken.some((t) => t) ? [...taken.flatMap((t) => t?.writes ?? []), ...writes] : writes;
    if (later) all.push(this.counters());
    let durable: Promise<void> | undefined;
    try {
      durable = this.host.store.write(all);
    } catch (err) {
      // A closed store (deferred writes flushed after a stop): reported like a failed commit.
      durable = Promise.reject(err);
    }
    durable?.catch((err: unknown) => this.host.storeFailed(err));
    for (const t of taken) t?.issued(durable);
    return durable;
  }

  /** A message's ttl ended (the host's ttl index calls this). */
  abstract expire(message: QueuedMessage): void;

  /** Messages held in memory out of line: in flight, or waiting out a nack delay. */
  protected abstract outOfLine(): QueuedMessage[];
}

/** A queue not purging shares this one; a purge gets its own. */
const NOT_PURGING: { count: number; bytes: number } = Object.freeze({ count: 0, bytes: 0 });
