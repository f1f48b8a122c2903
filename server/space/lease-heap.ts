interface Entry<T> {
  at: number;
  item: T;
}

/**
 * Leases on a binary min-heap with one timer for the earliest: expiry costs O(log n) per
 * lease, never a periodic scan of every tuple. Renewals push a new entry; `isCurrent` lets the
 * owner skip entries a renewal made stale.
 */
export class LeaseHeap<T> {
  private readonly heap: Entry<T>[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Infinity;

  constructor(
    private readonly expire: (item: T) => void,
    private readonly isCurrent: (item: T, at: number) => boolean,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  add(item: T, at: number): void {
    if (!Number.isFinite(at)) return;
    const heap = this.heap;
    heap.push({ at, item });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= heap[i]!.at) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
    this.arm();
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
    this.timer = setTimeout(this.fire, Math.min(Math.max(0, next.at - Date.now()), 2 ** 31 - 1));
    this.timer.unref?.();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = Date.now();
    while (this.heap.length > 0 && this.heap[0]!.at <= now) {
      const { at, item } = this.pop();
      if (this.isCurrent(item, at)) this.expire(item);
    }
    this.arm();
  };

  private pop(): Entry<T> {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]!.at < heap[m]!.at) m = l;
        if (r < heap.length && heap[r]!.at < heap[m]!.at) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top;
  }
}
