import { LindenError } from '../../protocol/errors.js';
import type { Connection } from '../connection.js';
import type { SpaceMutation, Store } from '../store/store.js';
import type { StoredTuple } from './stored-tuple.js';
import type { Template } from './template.js';
import { ArityIndex } from './tuple-index.js';
import { WaiterIndex, type Waiter } from './waiters.js';

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
  /** Answers a waiter with a tuple; false when its connection can no longer take it. */
  serve(w: Waiter, t: StoredTuple): boolean;
  event(n: Notifier, type: SpaceEventType, t: StoredTuple): void;
  /** A tuple with a lease entered the space (again). */
  leased(t: StoredTuple): void;
  /** A watched tuple was taken under reservation (delivered), taken for good (processed) or ended unread. */
  fate(t: StoredTuple, what: 'delivered' | 'processed' | 'expired'): void;
}

export type BatchStep =
  | { op: 'inp' | 'rdp'; template: Template }
  | { op: 'out'; tuple: StoredTuple };

/**
 * One named tuple space: tuples indexed per arity, blocked `in`/`rd` requests indexed the same
 * way, notify subscriptions and the tuples taken under reservation.
 */
export class Space {
  private readonly indexes = new Map<number, ArityIndex>();
  private readonly waiters = new Map<number, WaiterIndex>();
  private readonly notifiers = new Set<Notifier>();
  /** Live tuples by id: those in the indexes and those out under reservation. */
  private readonly byTid = new Map<string, StoredTuple>();
  private readonly reserved = new Set<StoredTuple>();
  tupleCount = 0;
  bytes = 0;
  waiterCount = 0;
  readonly stats = { outs: 0, ins: 0 };

  constructor(
    readonly name: string,
    readonly persistent: boolean,
    private readonly host: SpaceHost,
    private readonly store: Store | undefined,
  ) {}

  get notifierCount(): number {
    return this.notifiers.size;
  }

  tuple(tid: string): StoredTuple | undefined {
    return this.byTid.get(tid);
  }

  /**
   * Writes a tuple: every matching `rd` waiter gets a copy and the oldest matching `in` waiter
   * takes it without it ever being stored; otherwise it is stored. Returns the store's promise
   * when the write must become durable before it is acknowledged.
   */
  write(t: StoredTuple): Promise<void> | undefined {
    this.stats.outs++;
    this.emit('out', t);
    this.byTid.set(t.tid, t);
    if (this.handOver(t)) return undefined;
    this.insert(t);
    this.host.leased(t);
    return this.persist([{ op: 'put', tuple: record(t) }]);
  }

  /** The oldest live match, removed when `take`. */
  find(template: Template, now: number, take: boolean): StoredTuple | undefined {
    let found: StoredTuple | undefined;
    this.indexes.get(template.arity)?.scan(template, now, (t) => { found = t; return true; });
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

  count(template: Template, now: number): number {
    let n = 0;
    this.indexes.get(template.arity)?.scan(template, now, () => { n++; });
    return n;
  }

  /** Takes a tuple out of sight until settle(); a nack or expiry puts it back where it was. */
  reserve(t: StoredTuple): void {
    this.removeFromIndex(t);
    this.reserved.add(t);
    if (t.watched) this.host.fate(t, 'delivered');
  }

  /** Ends a reservation: `ok` removes the tuple for good, otherwise it returns to the space. */
  settle(t: StoredTuple, ok: boolean): void {
    if (!this.reserved.delete(t)) return;
    if (ok) {
      this.gone(t, 'in');
      return;
    }
    if (t.expiresAt <= Date.now()) {
      this.gone(t, 'expire');
      return;
    }
    if (!this.handOver(t)) this.insert(t);
  }

  /** Ends a tuple's life early (lease cancel or expiry). */
  expire(t: StoredTuple): void {
    if (!t.live || this.reserved.has(t)) return;
    this.removeFromIndex(t);
    this.gone(t, 'expire');
  }

  renew(t: StoredTuple, expiresAt: number): void {
    t.expiresAt = expiresAt;
    if (!this.reserved.has(t)) this.host.leased(t);
    void this.persist([{ op: 'lease', space: this.name, tid: t.tid, expiresAt: Number.isFinite(expiresAt) ? expiresAt : null }]);
  }

  addWaiter(w: Waiter): void {
    let index = this.waiters.get(w.template.arity);
    if (!index) this.waiters.set(w.template.arity, (index = new WaiterIndex(w.template.arity)));
    index.add(w);
    this.waiterCount++;
  }

  removeWaiter(w: Waiter): void {
    const index = this.waiters.get(w.template.arity);
    if (!index) return;
    const before = index.size;
    index.remove(w);
    if (index.size < before) this.waiterCount--;
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
   * committed.
   */
  batch(steps: BatchStep[], now: number): (StoredTuple | undefined)[] {
    const results: StoredTuple[] = [];
    const removed: StoredTuple[] = [];
    const added: StoredTuple[] = [];
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      if (step.op === 'out') {
        this.insert(step.tuple);
        this.byTid.set(step.tuple.tid, step.tuple);
        added.push(step.tuple);
        results.push(step.tuple);
        continue;
      }
      const t = this.find(step.template, now, false);
      if (!t) {
        for (const a of added) { this.removeFromIndex(a); this.byTid.delete(a.tid); }
        for (const r of removed) this.insert(r);
        throw new LindenError('BATCH_FAILED', `batch step ${i} (${step.op}) found no matching tuple; nothing was changed`, { step: i });
      }
      if (step.op === 'inp') {
        this.removeFromIndex(t);
        removed.push(t);
      }
      results.push(t);
    }
    const mutations: SpaceMutation[] = [];
    for (const t of removed) {
      this.gone(t, 'in', false);
      mutations.push({ op: 'delete', space: this.name, tid: t.tid });
    }
    for (const t of added) {
      this.stats.outs++;
      this.emit('out', t);
      this.host.leased(t);
      mutations.push({ op: 'put', tuple: record(t) });
    }
    void this.persist(mutations);
    // Tuples written by the batch may now satisfy waiters, oldest first.
    for (const t of added) {
      if (!t.live || !this.hasWaiters(t.values.length)) continue;
      this.removeFromIndex(t);
      if (!this.handOver(t)) this.insert(t);
    }
    return results;
  }

  private hasWaiters(arity: number): boolean {
    return (this.waiters.get(arity)?.size ?? 0) > 0;
  }

  /** Serves waiters from a tuple not in the indexes; true when an `in` took it. */
  private handOver(t: StoredTuple): boolean {
    const index = this.waiters.get(t.values.length);
    if (!index || index.size === 0) return false;
    for (const w of index.matching(t)) {
      this.removeWaiter(w);
      if (!this.host.serve(w, t)) continue; // its connection is gone: the tuple stays
      if (!w.take) continue;
      if (w.reserveMs !== undefined) {
        this.reserved.add(t);
        if (t.watched) this.host.fate(t, 'delivered');
      } else {
        this.gone(t, 'in');
      }
      return true;
    }
    return false;
  }

  private taken(t: StoredTuple): void {
    this.removeFromIndex(t);
    this.gone(t, 'in');
  }

  /** A tuple leaves the space for good. */
  private gone(t: StoredTuple, why: 'in' | 'expire', persist = true): void {
    t.live = false;
    this.byTid.delete(t.tid);
    if (why === 'in') this.stats.ins++;
    this.emit(why, t);
    if (t.watched) this.host.fate(t, why === 'in' ? 'processed' : 'expired');
    if (persist) void this.persist([{ op: 'delete', space: this.name, tid: t.tid }]);
  }

  private insert(t: StoredTuple): void {
    let index = this.indexes.get(t.values.length);
    if (!index) this.indexes.set(t.values.length, (index = new ArityIndex(t.values.length)));
    index.add(t);
    this.tupleCount++;
    this.bytes += t.bytes;
  }

  private removeFromIndex(t: StoredTuple): void {
    const index = this.indexes.get(t.values.length);
    if (!index) return;
    const before = index.size;
    index.remove(t);
    if (index.size < before) {
      this.tupleCount--;
      this.bytes -= t.bytes;
    }
  }

  private emit(type: SpaceEventType, t: StoredTuple): void {
    for (const n of this.notifiers) {
      if (n.events.has(type) && n.template.arity === t.values.length && n.template.matches(t.values)) this.host.event(n, type, t);
    }
  }

  private persist(mutations: SpaceMutation[]): Promise<void> | undefined {
    if (!this.persistent || !this.store || mutations.length === 0) return undefined;
    return this.store.writeSpace(mutations);
  }
}

function record(t: StoredTuple) {
  return { seq: t.seq, tid: t.tid, space: t.space, values: t.values, expiresAt: Number.isFinite(t.expiresAt) ? t.expiresAt : null };
}
