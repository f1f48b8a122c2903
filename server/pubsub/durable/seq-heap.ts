/** What a SeqHeap orders; `heapIndex` is its bookkeeping (-1 or absent when not in a heap). */
export interface HeapItem {
  readonly seq: number;
  heapIndex?: number;
}

/** Heaps this small grow by copying (push()). */
const SMALL = 8;

/**
 * A binary min-heap of items ordered by `seq`: ready messages, oldest first, whatever order they
 * come back in. Items know their position, so one can leave from the middle (a ttl that ends)
 * in O(log n).
 */
export class SeqHeap<T extends HeapItem> {
  private heap: T[] = [];

  get size(): number {
    return this.heap.length;
  }

  peek(): T | undefined {
    return this.heap[0];
  }

  has(item: T): boolean {
    const i = item.heapIndex ?? -1;
    return i >= 0 && this.heap[i] === item;
  }

  push(item: T): void {
    // A push grows an array by 17 slots at least: a queue holding a few messages would carry
    // ~150 bytes of room (issue 21: many small queues). A small heap is copied to its size instead.
    if (this.heap.length < SMALL) this.heap = this.heap.concat(item);
    else this.heap.push(item);
    this.up(this.heap.length - 1, item);
  }

  pop(): T | undefined {
    const top = this.heap[0];
    if (top) this.removeAt(0);
    return top;
  }

  /** Takes `item` out wherever it is; false when it is not in this heap. */
  remove(item: T): boolean {
    if (!this.has(item)) return false;
    this.removeAt(item.heapIndex!);
    return true;
  }

  /** Every item, in no particular order. */
  values(): readonly T[] {
    return this.heap;
  }

  clear(): T[] {
    const all = this.heap.splice(0);
    for (const item of all) item.heapIndex = -1;
    return all;
  }

  private removeAt(i: number): void {
    const heap = this.heap;
    const gone = heap[i]!;
    gone.heapIndex = -1;
    const last = heap.pop()!;
    if (i === heap.length) return;
    const parent = (i - 1) >> 1;
    if (i > 0 && heap[parent]!.seq > last.seq) this.up(i, last);
    else this.down(i, last);
  }

  private up(i: number, item: T): void {
    const heap = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.seq <= item.seq) break;
      heap[i] = heap[parent]!;
      heap[i]!.heapIndex = i;
      i = parent;
    }
    heap[i] = item;
    item.heapIndex = i;
  }

  private down(i: number, item: T): void {
    const heap = this.heap;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]!.seq < heap[left]!.seq ? right : left;
      if (heap[child]!.seq >= item.seq) break;
      heap[i] = heap[child]!;
      heap[i]!.heapIndex = i;
      i = child;
    }
    heap[i] = item;
    item.heapIndex = i;
  }
}
