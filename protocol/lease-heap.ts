/** An item's place in a LeaseHeap: keep it to move or remove the item later. */
export interface Lease<T> {
  readonly item: T;
  /** When the lease ends (ms since epoch). */
  readonly at: number;
}

interface Entry<T> extends Lease<T> {
  at: number;
  /** Index in the heap array; -1 once the entry left the heap (removed or fired). */
  pos: number;
}

/**
 * Leases on a binary min-heap with one timer for the earliest — tuple leases (server/space), the
 * ttls of persistent messages (server/pubsub/durable), receipt timeouts (server/pubsub) and the
 * SDK's call timeouts (client-sdk/pending-calls.ts), so no deadline costs a timer of its own: expiry costs O(log n) per lease,
 * never a periodic scan. Each entry knows its index, so an owner that
 * keeps the Lease returned by add() can move it (a renewal) or remove it (the item ended some
 * other way) in O(log n): the heap holds exactly the items still waiting to expire, and lets go
 * of an item as soon as its owner does. `isCurrent` lets owners that never remove or move
 * skip entries made stale meanwhile.
 */
export class LeaseHeap<T> {
  private readonly heap: Entry<T>[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Infinity;

  constructor(
    private readonly expire: (item: T) => void,
    private readonly isCurrent: (item: T, at: number) => boolean = () => true,
    /** The clock `at` is read on: wall time for what is stored, a monotonic one for what only lives in memory. */
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  /** Schedules `item` to expire at `at`; nothing for an infinite `at`. */
  add(item: T, at: number): Lease<T> | undefined {
    if (!Number.isFinite(at)) return undefined;
    const entry: Entry<T> = { item, at, pos: this.heap.length };
    this.heap.push(entry);
    this.up(entry.pos);
    this.arm();
    return entry;
  }

  /** Moves a lease to a new end in place. False when it is no longer in the heap (it fired or was removed). */
  move(lease: Lease<T>, at: number): boolean {
    const entry = lease as Entry<T>;
    if (entry.pos < 0 || this.heap[entry.pos] !== entry || !Number.isFinite(at)) return false;
    const earlier = at < entry.at;
    entry.at = at;
    if (earlier) this.up(entry.pos);
    else this.down(entry.pos);
    this.arm();
    return true;
  }

  /** Takes a lease out of the heap, so the heap no longer holds its item. Nothing if it already left. */
  remove(lease: Lease<unknown>): void {
    const entry = lease as Entry<T>;
    if (entry.pos < 0 || this.heap[entry.pos] !== entry) return;
    this.take(entry.pos);
    // A timer armed for it fires for nothing and re-arms: cheaper than re-arming at every removal.
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private arm(): void {
    const next = this.heap[0];
    if (!next || next.at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = next.at;
    // setTimeout caps at 2^31-1 ms; a later lease just re-arms when this fires.
    this.timer = setTimeout(this.fire, Math.min(Math.max(0, next.at - this.now()), 2 ** 31 - 1));
    this.timer.unref?.();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.now();
    while (this.heap.length > 0 && this.heap[0]!.at <= now) {
      const { item, at } = this.take(0);
      if (this.isCurrent(item, at)) this.expire(item);
    }
    this.arm();
  };

  /** Removes the entry at index `i` and returns it. */
  private take(i: number): Entry<T> {
    const heap = this.heap;
    const entry = heap[i]!;
    const last = heap.pop()!;
    entry.pos = -1;
    if (last !== entry) {
      heap[i] = last;
      last.pos = i;
      // The last entry may belong above or below the place it fills.
      this.down(i);
      this.up(last.pos);
    }
    return entry;
  }

  private up(i: number): void {
    const heap = this.heap;
    const entry = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const above = heap[parent]!;
      if (above.at <= entry.at) break;
      heap[i] = above;
      above.pos = i;
      i = parent;
    }
    heap[i] = entry;
    entry.pos = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const entry = heap[i]!;
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && heap[r]!.at < heap[l]!.at ? r : l;
      const below = heap[child]!;
      if (below.at >= entry.at) break;
      heap[i] = below;
      below.pos = i;
      i = child;
    }
    heap[i] = entry;
    entry.pos = i;
  }
}
