import type { StoredTuple } from './stored-tuple.js';

/**
 * Tuples kept in write order, so the first match found is the oldest. Appends keep the order;
 * a reserved tuple put back with its old position marks the bucket for one re-sort.
 */
export class OrderedBucket {
  private set = new Set<StoredTuple>();
  private lastSeq = -1;
  private sorted = true;

  get size(): number {
    return this.set.size;
  }

  add(t: StoredTuple): void {
    if (t.seq < this.lastSeq) this.sorted = false;
    else this.lastSeq = t.seq;
    this.set.add(t);
  }

  delete(t: StoredTuple): void {
    this.set.delete(t);
  }

  /** Visits tuples oldest first until `visit` returns true. */
  scan(visit: (t: StoredTuple) => boolean | void): void {
    if (!this.sorted) {
      this.set = new Set([...this.set].sort((a, b) => a.seq - b.seq));
      this.sorted = true;
    }
    for (const t of this.set) if (visit(t)) return;
  }
}
