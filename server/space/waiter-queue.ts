import type { BucketMap } from './bucket-map.js';
import type { Waiter } from './waiters.js';

/** Dead entries a queue tolerates before it compacts, whatever its size. */
const SLACK = 32;

/** What fills a slot before the head: a waiter of no queue, holding nothing. */
const FREE = { queue: undefined } as unknown as Waiter;

/**
 * Waiters filed under one value (or the wildcards), in arrival order: an array with a head
 * index. A waiter belongs to the queue while its `queue` field names it; leaving only clears
 * that field, and the oldest leaving moves the head, so serving the oldest first stays O(1).
 * (Set iteration walks past the slots of deleted entries, and every served waiter leaves one.)
 */
export class WaiterQueue {
  private items: Waiter[] = [];
  private head = 0;
  size = 0;

  /**
   * `owner`: the map that files the queue, told when it empties; `position`: the field whose
   * value it is filed under, -1 for the queue of templates without one.
   */
  constructor(private readonly owner?: BucketMap<WaiterQueue>, readonly position = -1) {}

  push(w: Waiter): void {
    w.queue = this;
    this.size++;
    if (this.head === this.items.length) {
      this.items = [w];
      this.head = 0;
    } else {
      this.items.push(w);
    }
  }

  delete(w: Waiter): void {
    w.queue = undefined;
    this.size--;
    // A waiter left in the array holds its connection, gone or not: an emptied queue, which its
    // map may keep for a while (bucket-map.ts), lets go of them all, and the head of every slot it passes.
    if (this.size === 0) {
      this.items = [];
      this.head = 0;
      this.owner?.emptied();
      return;
    }
    const items = this.items;
    if (items[this.head] === w) {
      let h = this.head;
      do items[h++] = FREE; while (h < items.length && items[h]!.queue !== this);
      this.head = h;
    }
    const dead = items.length - this.size;
    if (dead > SLACK && dead > this.size) {
      this.items = items.slice(this.head).filter((x) => x.queue === this);
      this.head = 0;
    }
  }

  /** The oldest waiter that matches and arrived before `before` (a waiter seq). */
  first(values: unknown[], before: number): Waiter | undefined {
    const items = this.items;
    for (let i = this.head; i < items.length; i++) {
      const w = items[i]!;
      if (w.seq >= before) return undefined;
      if (w.queue === this && w.template.matches(values)) return w;
    }
    return undefined;
  }

  /** Adds every waiter that matches to `out`, oldest first. */
  collect(values: unknown[], out: Waiter[]): void {
    const items = this.items;
    for (let i = this.head; i < items.length; i++) {
      const w = items[i]!;
      if (w.queue === this && w.template.matches(values)) out.push(w);
    }
  }
}
