import type { MessageWatch } from '../../pubsub/durable/queue-records.js';

/** A stage a durable subscription reached with a message, for the receipt of its publisher. */
export type ReceiptEvent = { kind: 'delivered' } | { kind: 'processed' } | { kind: 'rejected'; reason: string } | { kind: 'lost' };

interface Slot {
  watch: MessageWatch | undefined;
  /** What happened before the publish's reply bound the watch (a consumer here may be quicker). */
  early: ReceiptEvent[];
  openedAt: number;
}

/**
 * The publishers on this node waiting for `delivery` or `processing` of a persistent message, by
 * queue and mid. A slot is opened before the message is stored, so a consumer of this node that
 * gets it before the store's reply is counted too.
 *
 * Across nodes: a stored message names its publisher's node (`origin`), and the consuming node
 * hands events for another node to ClusterQueues.forwardReceipt, which the cluster bus carries.
 */
export class ReceiptWatches {
  private readonly slots = new Map<string, Slot>();

  /** `maxAgeMs`: a slot nobody settled goes after this long (the receipt timed out long before). */
  constructor(private readonly maxAgeMs: number) {}

  get size(): number {
    return this.slots.size;
  }

  open(queue: string, mid: string): void {
    const now = Date.now();
    // Oldest first in a Map: drop the abandoned ones from the front.
    for (const [key, slot] of this.slots) {
      if (now - slot.openedAt < this.maxAgeMs) break;
      this.slots.delete(key);
    }
    this.slots.set(keyOf(queue, mid), { watch: undefined, early: [], openedAt: now });
  }

  bind(queue: string, mid: string, watch: MessageWatch): void {
    const key = keyOf(queue, mid);
    const slot = this.slots.get(key);
    if (!slot) return;
    slot.watch = watch;
    for (const e of slot.early.splice(0)) this.apply(key, slot, e);
  }

  close(queue: string, mid: string): void {
    this.slots.delete(keyOf(queue, mid));
  }

  event(queue: string, mid: string, e: ReceiptEvent): void {
    if (this.slots.size === 0) return;
    const key = keyOf(queue, mid);
    const slot = this.slots.get(key);
    if (!slot) return;
    if (!slot.watch) slot.early.push(e);
    else this.apply(key, slot, e);
  }

  private apply(key: string, slot: Slot, e: ReceiptEvent): void {
    const watch = slot.watch!;
    if (e.kind === 'delivered') return watch.delivered();
    this.slots.delete(key);
    if (e.kind === 'processed') watch.processed();
    else if (e.kind === 'rejected') watch.rejected(e.reason);
    else watch.lost();
  }
}

function keyOf(queue: string, mid: string): string {
  return `${queue}\u0000${mid}`;
}
