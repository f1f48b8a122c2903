import type { Redis } from 'ioredis';
import { disconnectRedis, readyWithin } from '../redis-target.js';
import type { StreamKeys } from './stream-keys.js';

/** How long one XREAD blocks before it asks again (a stop interrupts it sooner by disconnecting). */
const BLOCK_MS = 5_000;
/** After a failed read (Redis away), the next attempt. */
const RETRY_MS = 500;

/**
 * Tells this node's readers of one stream that it grew, whichever node appended: one XREAD
 * BLOCK on a connection of its own, from the last seq it knows. A reader that found nothing
 * past its position waits here for a seq at or past it; since the tail starts from the
 * stream's `next` read after the reader looked, and reads every id after that, a message
 * appended in between is never waited past. The readers read the messages themselves (XRANGE),
 * so what reaches them is decided by their position alone: no gap and no duplicate.
 */
export class StreamTail {
  /** The newest seq known to be in the stream (0: none yet). */
  private last = -1;
  private readonly waiters: { seq: number; wake: () => void }[] = [];
  private stopped = false;

  constructor(private readonly keys: StreamKeys, private readonly command: Redis, private readonly blocking: Redis) {
    void this.follow();
  }

  /** Calls `wake` once the stream holds a seq at or past `seq` (or the tail stops). */
  wait(seq: number, wake: () => void): void {
    if (this.stopped || (this.last >= 0 && this.last >= seq)) return wake();
    this.waiters.push({ seq, wake });
  }

  /** Forgets a waiter that no longer waits (its reader stopped). */
  forget(wake: () => void): void {
    const i = this.waiters.findIndex((w) => w.wake === wake);
    if (i !== -1) this.waiters.splice(i, 1);
  }

  stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.waiters.splice(0)) w.wake();
    return disconnectRedis(this.blocking);
  }

  private async follow(): Promise<void> {
    while (!this.stopped) {
      try {
        // A blocking connection queues nothing while it connects: wait for it rather than fail.
        if (this.blocking.status !== 'ready') await readyWithin(this.blocking, RETRY_MS);
        if (this.stopped) return;
        if (this.last < 0) this.seen(Number((await this.command.hget(this.keys.meta, 'next')) ?? '1') - 1);
        const reply = await this.blocking.xread('COUNT', 1, 'BLOCK', BLOCK_MS, 'STREAMS', this.keys.data, `${this.last}-0`);
        if (reply && reply.length > 0) this.seen(Number((await this.command.hget(this.keys.meta, 'next')) ?? '1') - 1);
      } catch {
        if (this.stopped) return;
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref());
      }
    }
  }

  private seen(last: number): void {
    if (last > this.last) this.last = last;
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (w.seq > this.last) continue;
      this.waiters.splice(i, 1);
      w.wake();
    }
  }
}
