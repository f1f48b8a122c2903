/** A place in an ExpiryHeap; `cancel` takes it out. */
export interface Expiry<T> {
  readonly at: number;
  readonly item: T;
  /** Position in the heap; -1 once it has left (fired or cancelled). */
  index: number;
}

/**
 * Deadlines on a binary min-heap with one timer for the earliest: the ttls of persistent
 * messages. Unlike a heap that only ever pops, an entry leaves the moment its reason ends
 * (`cancel`, O(log n)): a message acked, dropped or purged long before its ttl must not stay
 * reachable, payload and all, until the ttl would have ended.
 */
export class ExpiryHeap<T> {
  private readonly heap: Expiry<T>[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Infinity;

  constructor(private readonly expire: (item: T) => void) {}

  get size(): number {
    return this.heap.length;
  }

  /** Calls expire(item) at `at` (ms since the epoch) unless cancelled first. */
  add(item: T, at: number): Expiry<T> {
    const entry: Expiry<T> = { at, item, index: this.heap.length };
    this.heap.push(entry);
    this.up(entry.index, entry);
    this.arm();
    return entry;
  }

  /** Takes the entry out; nothing happens for one that already fired or was cancelled. */
  cancel(entry: Expiry<unknown>): void {
    const i = entry.index;
    if (i < 0 || this.heap[i] !== entry) return;
    entry.index = -1;
    const last = this.heap.pop()!;
    if (i === this.heap.length) return;
    // The last entry fills the hole and moves whichever way restores the order.
    if (i > 0 && this.heap[(i - 1) >> 1]!.at > last.at) this.up(i, last);
    else this.down(i, last);
    // The timer stays armed for the earliest ever added: firing early finds nothing due and re-arms.
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
    // setTimeout caps at 2^31-1 ms; a later deadline just re-arms when this fires.
    this.timer = setTimeout(this.fire, Math.min(Math.max(0, next.at - Date.now()), 2 ** 31 - 1));
    this.timer.unref?.();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = Date.now();
    while (this.heap.length > 0 && this.heap[0]!.at <= now) {
      const top = this.heap[0]!;
      this.cancel(top);
      this.expire(top.item);
    }
    this.arm();
  };

  private up(i: number, entry: Expiry<T>): void {
    const heap = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= entry.at) break;
      heap[i] = heap[parent]!;
      heap[i]!.index = i;
      i = parent;
    }
    heap[i] = entry;
    entry.index = i;
  }

  private down(i: number, entry: Expiry<T>): void {
    const heap = this.heap;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]!.at < heap[left]!.at ? right : left;
      if (heap[child]!.at >= entry.at) break;
      heap[i] = heap[child]!;
      heap[i]!.index = i;
      i = child;
    }
    heap[i] = entry;
    entry.index = i;
  }
}
