import type { StoredTuple } from './stored-tuple.js';
import type { Template } from './template.js';
import type { IndexKey } from './values.js';

/** Dead entries a bucket tolerates before it compacts, whatever its size. */
const SLACK = 32;

/** What fills a slot before the head: no tuple, holding nothing. */
const FREE = { indexed: false, seq: -1 } as StoredTuple;

/**
 * The array of every empty bucket: emptying one (each take of a unique value does) allocates
 * nothing. Never written to: add() replaces it rather than pushing onto an empty bucket's array.
 */
const EMPTY = Object.freeze([]) as unknown as StoredTuple[];

/**
 * Tuples kept in write order, so the first match found is the oldest: an array sorted by seq
 * with a head index. Removal only clears StoredTuple.indexed (the caller does, once for all the
 * tuple's buckets) and counts; scans step over dead entries and removals at the front move the
 * head, so draining oldest first costs O(1) a take. (A JS Set keeps deleted slots and walked past
 * every earlier take.) The array is compacted once dead entries outnumber live ones.
 *
 * A tuple put back after a reservation is older than the tail: it is inserted at its seq,
 * usually into its own dead entry, still in place, or into the free slot before the head.
 *
 * A bucket that has held one tuple since it was last empty keeps it in `lone`, with no array:
 * the bucket of a unique value (an id, a key) is one of a million, and an array each was a
 * twelfth of the heap and one more object for every take to reach and the GC to mark.
 */
export class OrderedBucket {
  private items: StoredTuple[] = EMPTY;
  private head = 0;
  /** Set exactly while the bucket holds one tuple and `items` is EMPTY. */
  private lone: StoredTuple | undefined = undefined;
  /** Live tuples. */
  size = 0;

  /** `key`: the index key the bucket is filed under. */
  constructor(readonly key: IndexKey) {}

  add(t: StoredTuple): void {
    if (++this.size === 1) {
      this.lone = t; // items is EMPTY: delete() put it back when the bucket emptied
      return;
    }
    const lone = this.lone;
    if (lone) {
      this.lone = undefined;
      this.items = lone.seq < t.seq ? [lone, t] : [t, lone];
      this.head = 0;
      return;
    }
    const items = this.items;
    const n = items.length;
    if (items[n - 1]!.seq < t.seq) {
      items.push(t);
    } else {
      this.insertOrdered(t);
    }
  }

  /** Call after clearing t.indexed. */
  delete(t: StoredTuple): void {
    this.size--;
    // Tuples left in the array keep their values: an emptied bucket, which its map may keep for a
    // while (bucket-map.ts), lets go of them all, and the head of every slot it passes.
    if (this.size === 0) {
      this.items = EMPTY;
      this.head = 0;
      this.lone = undefined;
      return;
    }
    const items = this.items;
    if (items[this.head] === t) {
      let h = this.head;
      do items[h++] = FREE; while (h < items.length && !items[h]!.indexed);
      this.head = h;
    }
    const dead = items.length - this.size;
    if (dead > SLACK && dead > this.size) this.compact();
  }

  /** Visits live tuples oldest first until `visit` returns true. `visit` must not change the index. */
  scan(visit: (t: StoredTuple) => boolean | void): void {
    if (this.lone) {
      visit(this.lone);
      return;
    }
    const items = this.items;
    for (let i = this.head; i < items.length; i++) {
      const t = items[i]!;
      if (t.indexed && visit(t) === true) return;
    }
  }

  /** The oldest live tuple unexpired at `now` that the template matches: scan() for one, without a closure. */
  first(template: Template, now: number): StoredTuple | undefined {
    const lone = this.lone;
    if (lone) return lone.expiresAt > now && template.matches(lone.values) ? lone : undefined;
    const items = this.items;
    for (let i = this.head; i < items.length; i++) {
      const t = items[i]!;
      if (t.indexed && t.expiresAt > now && template.matches(t.values)) return t;
    }
    return undefined;
  }

  private insertOrdered(t: StoredTuple): void {
    const items = this.items;
    let lo = this.head;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (items[mid]!.seq < t.seq) lo = mid + 1;
      else hi = mid;
    }
    if (items[lo] === t) return; // its own dead entry: live again where it was
    // Shift whichever side is shorter; the front can only move into free slots before the head.
    if (this.head > 0 && lo - this.head <= items.length - lo) {
      items.copyWithin(this.head - 1, this.head, lo);
      items[lo - 1] = t;
      this.head--;
    } else {
      items.splice(lo, 0, t);
    }
  }

  private compact(): void {
    const live: StoredTuple[] = [];
    const items = this.items;
    for (let i = this.head; i < items.length; i++) if (items[i]!.indexed) live.push(items[i]!);
    this.items = live;
    this.head = 0;
  }
}
