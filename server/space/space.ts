import { LindenError } from '../../protocol/errors.js';
import type { Connection } from '../connection.js';
import { CountedMap, type Tally } from '../counted-map.js';
import type { Store, StoreWrite } from '../store/store.js';
import { deleteSpace, deleteTuple, putSpace, putTuple } from './space-records.js';
import type { StoredTuple } from './stored-tuple.js';
import type { Template } from './template.js';
import { ArityIndex } from './tuple-index.js';
import { WaiterIndex, type Waiter } from './waiters.js';
import { firstBySeq } from '../first-by-seq.js';

export type SpaceEventType = 'out' | 'in' | 'expire';

/** A `notify` subscription. */
export interface Notifier {
  readonly nid: number;
  readonly space: string;
  readonly conn: Connection;
  readonly template: Template;
  readonly events: ReadonlySet<SpaceEventType>;
  seq: number;
}

/** What a space needs from the broker to answer clients. */
export interface SpaceHost {
  /** Bytes of the live tuples of all spaces, reserved ones included (maxSpaceBytesTotal). */
  readonly tupleBytes: Tally;
  /** Answers a waiter with a tuple; false when its connection can no longer take it. */
  serve(w: Waiter, t: StoredTuple): boolean;
  event(n: Notifier, type: SpaceEventType, t: StoredTuple): void;
  /** A tuple with a lease entered the space (again), or its lease changed. */
  leased(t: StoredTuple): void;
  /** A tuple's lease no longer needs to run: it left the space, or was cancelled while reserved. */
  unleased(t: StoredTuple): void;
  /** A watched tuple was taken under reservation (delivered), taken for good (processed) or ended unread. */
  fate(t: StoredTuple, what: 'delivered' | 'processed' | 'expired'): void;
  /** A store write failed. Called for every failure; whoever waits for the write also gets its rejection. */
  storeFailed(err: unknown): void;
}

export type BatchStep =
  | { op: 'inp' | 'rdp'; template: Template }
  | { op: 'out'; tuple: StoredTuple };

/**
 * One named tuple space: tuples indexed per arity, blocked `in`/`rd` requests indexed the same
 * way, notify subscriptions and the tuples taken under reservation.
 *
 * A persistent space mirrors its tuples in the store (layout in space-records.ts). Methods that
 * change stored tuples return the store's promise, for the replies that must wait for the disk;
 * a failed write also reaches host.storeFailed, so none is lost silently.
 */
export class Space {
  private readonly indexes = new Map<number, ArityIndex>();
  private readonly waiters = new Map<number, WaiterIndex>();
  private readonly notifiers = new Set<Notifier>();
  /** Live tuples by id: those in the indexes and those out under reservation. Their bytes count into host.tupleBytes. */
  private readonly byTid: CountedMap<string, StoredTuple>;
  private readonly reserved = new Set<StoredTuple>();
  tupleCount = 0;
  bytes = 0;
  waiterCount = 0;
  readonly stats = { outs: 0, ins: 0 };
  /** Set through setPersistent() (or by recovery): tuples of a persistent space are kept in the store. */
  persistent = false;
  /** When the space last became persistent. */
  createdAt = 0;

  constructor(
    readonly name: string,
    private readonly host: SpaceHost,
    private readonly store: Store,
  ) {
    this.byTid = new CountedMap(host.tupleBytes, (t) => t.bytes);
  }

  /** Live tuples, reserved ones included. */
  get liveCount(): number {
    return this.byTid.size;
  }

  get notifierCount(): number {
    return this.notifiers.size;
  }

  /** Transient and holding nothing: no tuple (reserved ones count), waiter or notify subscription. */
  get idle(): boolean {
    return !this.persistent && this.byTid.size === 0 && this.waiterCount === 0 && this.notifiers.size === 0;
  }

  tuple(tid: string): StoredTuple | undefined {
    return this.byTid.get(tid);
  }

  /**
   * True when a writer's stated mode differs from the space's and the space may switch (it holds
   * no tuple); SPACE_MODE_CONFLICT when it holds some. No stated mode takes the space as it is.
   */
  mustSwitch(persistent: boolean | undefined): boolean {
    if (persistent === undefined || persistent === this.persistent) return false;
    if (this.byTid.size === 0) return true;
    const mode = (p: boolean) => (p ? 'persistent' : 'transient');
    throw new LindenError(
      'SPACE_MODE_CONFLICT',
      `space "${this.name}" is ${mode(this.persistent)} and holds ${this.byTid.size} tuples; it takes ${mode(persistent)} writes only once empty`,
      { space: this.name, persistent: this.persistent },
    );
  }

  /**
   * Switches between transient and persistent; only while the space holds no tuple, so no tuple
   * is ever kept in a mode its writer did not ask for.
   */
  setPersistent(persistent: boolean, now: number): Promise<void> | undefined {
    if (this.byTid.size > 0) throw new Error(`space "${this.name}" holds tuples: its mode is fixed`);
    this.persistent = persistent;
    if (persistent) this.createdAt = now;
    return this.commit([persistent ? putSpace(this.name, now) : deleteSpace(this.name)]);
  }

  /** A tuple read back from the store at start: indexed and leased again, with no event or waiter to serve. */
  restore(t: StoredTuple): void {
    t.stored = true;
    this.byTid.set(t.tid, t);
    this.insert(t);
    this.host.leased(t);
  }

  /**
   * Writes a tuple: every matching `rd` waiter gets a copy and the oldest matching `in` waiter
   * takes it, without it ever being stored unless it is taken under reservation; otherwise it
   * is stored. Returns the store's promise when the write must become durable before it is
   * acknowledged.
   */
  write(t: StoredTuple): Promise<void> | undefined {
    this.stats.outs++;
    this.emit('out', t);
    this.byTid.add(t.tid, t); // written now: its tid was made for it
    const taken = this.handOver(t);
    if (taken === 'in') return undefined;
    if (!taken) this.insert(t);
    // Reserved or not, the lease runs: once it ends the reservation can no longer put the tuple back.
    this.host.leased(t);
    if (!this.persistent) return undefined;
    t.stored = true;
    return this.persist([putTuple(t)]);
  }

  /** The oldest live match, removed when `take`. */
  find(template: Template, now: number, take: boolean): StoredTuple | undefined {
    const found = this.indexes.get(template.arity)?.first(template, now);
    if (found && take) this.taken(found);
    return found;
  }

  findAll(template: Template, now: number, limit: number, take: boolean): StoredTuple[] {
    const out: StoredTuple[] = [];
    if (limit <= 0) return out;
    this.indexes.get(template.arity)?.scan(template, now, (t) => { out.push(t); return out.length >= limit; });
    if (take) for (const t of out) this.taken(t);
    return out;
  }

  /**
   * The `n` oldest tuples a template could match now (not reserved, not expired), any arity, for
   * the admin `peek`; nothing changes. A scan keeping the n best: an operator's look, not a hot path.
   */
  peek(n: number, now: number): StoredTuple[] {
    const byTid = this.byTid;
    function* matchable() {
      for (const t of byTid.values()) if (t.indexed && t.expiresAt > now) yield t;
    }
    return firstBySeq(matchable(), n);
  }

  count(template: Template, now: number): number {
    let n = 0;
    this.indexes.get(template.arity)?.scan(template, now, () => { n++; });
    return n;
  }

  /** Takes a tuple out of sight until settle(); a nack or expiry puts it back where it was. It stays stored until then. */
  reserve(t: StoredTuple): void {
    this.removeFromIndex(t);
    this.reserved.add(t);
    if (t.watched) this.host.fate(t, 'delivered');
  }

  /** Ends a reservation: `ok` removes the tuple for good, otherwise it returns to the space unless its lease ended. */
  settle(t: StoredTuple, ok: boolean): Promise<void> | undefined {
    if (!this.reserved.delete(t)) return undefined;
    if (ok) return this.gone(t, 'in');
    if (t.expiresAt <= Date.now()) return this.gone(t, 'expire');
    const taken = this.handOver(t);
    if (taken === 'in') return undefined; // gone() deleted it
    if (!taken) this.insert(t);
    // The lease heap may have called about it while it was reserved, which dropped its entry.
    this.host.leased(t);
    return undefined;
  }

  /** Ends a tuple's life when its lease ran out; a reserved tuple is left to settle(), which sees the lease ended. */
  expire(t: StoredTuple): Promise<void> | undefined {
    if (!t.live || this.reserved.has(t)) return undefined;
    this.removeFromIndex(t);
    return this.gone(t, 'expire');
  }

  /**
   * Ends a tuple's life now. A reserved tuple stays with its taker, whose ack still takes it, but
   * its lease is over, so the end of the reservation cannot put it back; it leaves the store now.
   */
  cancel(t: StoredTuple, now: number): Promise<void> | undefined {
    if (!this.reserved.has(t)) return this.expire(t);
    t.expiresAt = now;
    this.host.unleased(t);
    if (!t.stored) return undefined;
    t.stored = false;
    return this.persist([deleteTuple(t)]);
  }

  renew(t: StoredTuple, expiresAt: number): Promise<void> | undefined {
    t.expiresAt = expiresAt;
    this.host.leased(t);
    return t.stored ? this.persist([putTuple(t)]) : undefined;
  }

  addWaiter(w: Waiter): void {
    let index = this.waiters.get(w.template.arity);
    if (!index) this.waiters.set(w.template.arity, (index = new WaiterIndex(w.template.arity)));
    index.add(w);
    this.waiterCount++;
  }

  removeWaiter(w: Waiter): void {
    if (this.waiters.get(w.template.arity)?.remove(w)) this.waiterCount--;
  }

  addNotifier(n: Notifier): void {
    this.notifiers.add(n);
  }

  removeNotifier(n: Notifier): void {
    this.notifiers.delete(n);
  }

  /**
   * Runs the steps as one: every `inp`/`rdp` must find a tuple, or nothing changes and
   * BATCH_FAILED names the step. Waiters and notify subscribers see the outcome only after it
   * committed, events in step order (so a tuple both written and taken by the batch has its
   * `out` event before its `in`). In a persistent space its deletes and puts are one store
   * write, whose promise comes back as `durable`.
   */
  batch(steps: BatchStep[], now: number): { results: StoredTuple[]; durable: Promise<void> | undefined } {
    const results: StoredTuple[] = [];
    const taken: StoredTuple[] = [];
    const added: StoredTuple[] = [];
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      if (step.op === 'out') {
        this.insert(step.tuple);
        this.byTid.add(step.tuple.tid, step.tuple);
        added.push(step.tuple);
        results.push(step.tuple);
        continue;
      }
      const t = this.find(step.template, now, false);
      if (!t) {
        this.rollback(added, taken);
        throw new LindenError('BATCH_FAILED', `batch step ${i} (${step.op}) found no matching tuple; nothing was changed`, { step: i });
      }
      if (step.op === 'inp') {
        this.removeFromIndex(t);
        taken.push(t);
      }
      results.push(t);
    }
    const writes: StoreWrite[] = [];
    for (let i = 0; i < steps.length; i++) {
      const t = results[i]!;
      if (steps[i]!.op === 'out') {
        this.stats.outs++;
        this.emit('out', t);
      } else if (steps[i]!.op === 'inp') {
        this.gone(t, 'in', false);
        if (t.stored) writes.push(deleteTuple(t));
      }
    }
    for (const t of added) {
      if (!t.live) continue; // taken by a later step: never stored, no lease to run
      this.host.leased(t);
      if (!this.persistent) continue;
      t.stored = true;
      writes.push(putTuple(t));
    }
    const durable = this.persist(writes);
    // Tuples written by the batch may now satisfy waiters, oldest first.
    for (const t of added) {
      if (!t.live || !this.hasWaiters(t.values.length)) continue;
      this.removeFromIndex(t);
      if (!this.handOver(t)) this.insert(t);
    }
    return { results, durable };
  }

  /** Undoes the steps run so far: the batch's own tuples are dropped (also those an `inp` took), the others put back in place. */
  private rollback(added: StoredTuple[], taken: StoredTuple[]): void {
    for (const t of added) {
      this.removeFromIndex(t);
      this.byTid.delete(t.tid);
      t.live = false;
    }
    for (const t of taken) if (t.live) this.insert(t);
  }

  private hasWaiters(arity: number): boolean {
    return (this.waiters.get(arity)?.size ?? 0) > 0;
  }

  /**
   * Offers a tuple that is not in the index to the waiters: every matching `rd` gets a copy,
   * whenever it started waiting, and the oldest matching `in` whose connection is still there
   * takes it. 'in' when that `in` took it for good, 'reserved' when under reservation,
   * undefined when it stays.
   */
  private handOver(t: StoredTuple): 'in' | 'reserved' | undefined {
    const index = this.waiters.get(t.values.length);
    if (!index || index.size === 0) return undefined;
    for (const w of index.readersOf(t)) {
      this.removeWaiter(w);
      this.host.serve(w, t);
    }
    for (let w = index.takerOf(t); w; w = index.takerOf(t)) {
      this.removeWaiter(w);
      if (!this.host.serve(w, t)) continue; // its connection is gone: the next `in` may take it
      if (w.reserveMs !== undefined) {
        this.reserved.add(t);
        if (t.watched) this.host.fate(t, 'delivered');
        return 'reserved';
      }
      void this.gone(t, 'in');
      return 'in';
    }
    return undefined;
  }

  /** An `in` answered at once: its delete is not waited for (a crash before it is durable gives the tuple back: at least once). */
  private taken(t: StoredTuple): void {
    this.removeFromIndex(t);
    void this.gone(t, 'in');
  }

  /** A tuple leaves the space for good, and the store when it was there. */
  private gone(t: StoredTuple, why: 'in' | 'expire', persist = true): Promise<void> | undefined {
    t.live = false;
    this.byTid.deleteHeld(t.tid, t); // a live tuple is the one filed under its tid
    this.host.unleased(t);
    if (why === 'in') this.stats.ins++;
    this.emit(why, t);
    if (t.watched) this.host.fate(t, why === 'in' ? 'processed' : 'expired');
    return persist && t.stored ? this.persist([deleteTuple(t)]) : undefined;
  }

  private insert(t: StoredTuple): void {
    let index = this.indexes.get(t.values.length);
    if (!index) this.indexes.set(t.values.length, (index = new ArityIndex(t.values.length)));
    index.add(t);
    this.tupleCount++;
    this.bytes += t.bytes;
  }

  private removeFromIndex(t: StoredTuple): void {
    if (!t.indexed) return;
    this.indexes.get(t.values.length)!.remove(t);
    this.tupleCount--;
    this.bytes -= t.bytes;
  }

  private emit(type: SpaceEventType, t: StoredTuple): void {
    for (const n of this.notifiers) {
      if (n.events.has(type) && n.template.arity === t.values.length && n.template.matches(t.values)) this.host.event(n, type, t);
    }
  }

  private persist(writes: StoreWrite[]): Promise<void> | undefined {
    return this.persistent && writes.length > 0 ? this.commit(writes) : undefined;
  }

  private commit(writes: StoreWrite[]): Promise<void> | undefined {
    let done: Promise<void> | undefined;
    try {
      done = this.store.write(writes);
    } catch (err) {
      done = Promise.reject(err); // e.g. the store closed under a late timer: report it like a failed commit
    }
    done?.catch((err: unknown) => this.host.storeFailed(err));
    return done;
  }
}
