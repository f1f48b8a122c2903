import type { Connection } from '../connection.js';
import { keyAt, type StoredTuple } from './stored-tuple.js';
import type { Template } from './template.js';
import { BucketMap } from './bucket-map.js';
import { WaiterQueue } from './waiter-queue.js';
import type { IndexKey } from './values.js';

/** A blocked `in` or `rd`. */
export interface Waiter {
  /** Arrival order across the broker: waiters are served lowest first. */
  readonly seq: number;
  readonly space: string;
  readonly template: Template;
  readonly take: boolean;
  readonly conn: Connection;
  readonly requestId: number;
  readonly reserveMs: number | undefined;
  /** Cluster mode: the id of the reservation it takes under, made when it is filed. */
  rid?: string | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Where the WaiterIndex filed it; undefined once it left. */
  queue: WaiterQueue | undefined;
}

/** Shared, never written: no `rd` waiter costs no array per tuple written. */
const NO_WAITERS: readonly Waiter[] = [];

/**
 * Waiters of one arity in one space. `in` and `rd` waiters are kept apart: a new tuple goes to
 * every matching `rd` but only to the oldest matching `in`, which should not cost a look at the
 * others.
 */
export class WaiterIndex {
  private readonly takers: WaiterTable;
  private readonly readers: WaiterTable;

  constructor(arity: number) {
    this.takers = new WaiterTable(arity);
    this.readers = new WaiterTable(arity);
  }

  get size(): number {
    return this.takers.size + this.readers.size;
  }

  add(w: Waiter): void {
    (w.take ? this.takers : this.readers).add(w);
  }

  /** False when the waiter was not here (any more). */
  remove(w: Waiter): boolean {
    return (w.take ? this.takers : this.readers).remove(w);
  }

  /** Every `rd` waiter whose template matches the tuple, in arrival order. */
  readersOf(t: StoredTuple): readonly Waiter[] {
    return this.readers.size === 0 ? NO_WAITERS : this.readers.matching(t);
  }

  /** The oldest `in` waiter whose template matches the tuple. */
  takerOf(t: StoredTuple): Waiter | undefined {
    return this.takers.size === 0 ? undefined : this.takers.oldest(t);
  }
}

/**
 * Each waiter is filed under one actual value of its template, or with the wildcards when it has
 * none, so a tuple is checked only against waiters that could match. The value chosen is the
 * most selective one at the time: the field whose queue is shortest, the later field on a tie
 * (in ['reply', id, any] the id, not the 'reply' every requester shares).
 */
class WaiterTable {
  private readonly byValue: BucketMap<WaiterQueue>[] = [];
  private readonly wild = new WaiterQueue();
  /**
   * Waiters filed under a value of each field. A tuple looks up only the fields some waiter is
   * filed under: each lookup hashes the tuple's key for that field, a long string's too.
   */
  private readonly filed: number[] = [];
  size = 0;

  constructor(private readonly arity: number) {
    for (let i = 0; i < arity; i++) {
      const map: BucketMap<WaiterQueue> = new BucketMap(() => new WaiterQueue(map, i));
      this.byValue.push(map);
      this.filed.push(0);
    }
  }

  add(w: Waiter): void {
    this.size++;
    let bestAt = -1;
    let bestKey: IndexKey = '';
    let bestSize = 0;
    for (const { position, key } of w.template.equalities) {
      const size = this.byValue[position]!.get(key)?.size ?? 0;
      if (bestAt < 0 || size <= bestSize) {
        bestAt = position;
        bestKey = key;
        bestSize = size;
      }
    }
    if (bestAt < 0) {
      this.wild.push(w);
      return;
    }
    this.byValue[bestAt]!.obtain(bestKey).push(w);
    this.filed[bestAt]!++;
  }

  remove(w: Waiter): boolean {
    const queue = w.queue;
    if (!queue) return false;
    queue.delete(w);
    if (queue.position >= 0) this.filed[queue.position]!--;
    this.size--;
    return true;
  }

  matching(t: StoredTuple): Waiter[] {
    const out: Waiter[] = [];
    let sources = 0;
    for (let i = 0; i < this.arity; i++) {
      if (this.filed[i] === 0) continue;
      const queue = this.byValue[i]!.get(keyAt(t, i));
      if (queue && collectFrom(queue, t, out)) sources++;
    }
    if (collectFrom(this.wild, t, out)) sources++;
    if (sources > 1) out.sort((a, b) => a.seq - b.seq);
    return out;
  }

  /** Each queue is in arrival order, so the oldest match is the oldest of each queue's first match. */
  oldest(t: StoredTuple): Waiter | undefined {
    let best: Waiter | undefined;
    for (let i = 0; i < this.arity; i++) {
      if (this.filed[i] === 0) continue;
      const queue = this.byValue[i]!.get(keyAt(t, i));
      if (!queue || queue.size === 0) continue;
      best = queue.first(t.values, best?.seq ?? Infinity) ?? best;
    }
    if (this.wild.size > 0) best = this.wild.first(t.values, best?.seq ?? Infinity) ?? best;
    return best;
  }
}

function collectFrom(queue: WaiterQueue, t: StoredTuple, out: Waiter[]): boolean {
  if (queue.size === 0) return false;
  const before = out.length;
  queue.collect(t.values, out);
  return out.length > before;
}
