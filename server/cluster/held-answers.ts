import type { Redis } from 'ioredis';
import { readyWithin } from './redis-target.js';

/** How long answers wait for the command connection to come back before they are dropped. */
const HOLD_MS = 2_000;
/** Most bytes of answers held meanwhile (a processing answer carries its reply's data). */
const HOLD_BYTES = 16 * 1024 * 1024;

/**
 * Publishes what a node owes another (receipt reports and events, queue events, kick answers)
 * on its command connection, which has no offline queue. When Redis comes back, the node's
 * subscription can be ready before that connection: a message then arrives and its report,
 * dropped, held the publisher's receipt for its whole timeout (seen in CI, 23 ms apart). So
 * while the connection is not ready, answers wait for it, in order, for a bounded time and size;
 * if it does not come back in time they are dropped and the publishers' receipts time out.
 */
export class HeldAnswers {
  private held: [channel: string, frame: Buffer][] | undefined;
  private heldBytes = 0;

  constructor(private readonly redis: Redis, private readonly holdMs = HOLD_MS, private readonly holdBytes = HOLD_BYTES) {}

  publish(channel: string, frame: Buffer): void {
    if (this.held === undefined) {
      if (this.redis.status === 'ready') return void this.redis.spublish(channel, frame).catch(() => undefined);
      this.held = [];
      this.heldBytes = 0;
      void readyWithin(this.redis, this.holdMs).then(() => this.release());
    }
    if (this.heldBytes + frame.length > this.holdBytes) return;
    this.heldBytes += frame.length;
    this.held.push([channel, frame]);
  }

  private release(): void {
    const held = this.held!;
    this.held = undefined;
    if (this.redis.status !== 'ready') return;
    for (const [channel, frame] of held) this.redis.spublish(channel, frame).catch(() => undefined);
  }
}
