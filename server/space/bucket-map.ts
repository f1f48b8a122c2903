import type { IndexKey } from './values.js';

/** Emptied buckets a map keeps before it looks at sweeping them, whatever its size. */
const SLACK = 64;

/**
 * Buckets (of tuples or of waiters) by index key. A bucket that empties stays in the map until
 * emptied ones make up half of it, then they all go in one sweep. Deleting a key and setting it
 * again at once, as a queue on one value or a compare-and-swap on one counter does, would leave
 * a deleted entry in V8's hash chain for that key each time, and lookups of the key walk all of
 * them until the map happens to rehash (an `out` and `in` of one key beside 100,000 others took
 * 85 µs, 7 µs with this).
 */
export class BucketMap<B extends { readonly size: number }> {
  private readonly map = new Map<IndexKey, B>();
  private empties = 0;

  constructor(private readonly make: (key: IndexKey) => B) {}

  /** The bucket, possibly empty. */
  get(key: IndexKey): B | undefined {
    return this.map.get(key);
  }

  /** The bucket for `key`, made when missing; the caller adds to it at once. */
  obtain(key: IndexKey): B {
    let b = this.map.get(key);
    if (!b) this.map.set(key, (b = this.make(key)));
    else if (b.size === 0) this.empties--;
    return b;
  }

  /** The caller took the last item out of a bucket of this map. */
  emptied(): void {
    if (++this.empties <= SLACK || this.empties <= this.map.size >> 1) return;
    for (const [key, b] of this.map) if (b.size === 0) this.map.delete(key);
    this.empties = 0;
  }
}
