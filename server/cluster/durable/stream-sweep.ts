import type { Redis } from 'ioredis';
import type { StreamQueue, StreamQueueHost } from './stream-queue.js';
import { decodeEntry } from './stream-entry.js';
import { GROUP } from './redis-keys.js';
import { REAP } from './stream-scripts.js';

/** How often a queue with consumers here looks for claimable entries, at most. */
const MAX_PERIOD_MS = 1_000;

/**
 * Consumers of the group (nodes) idle this long with nothing pending are forgotten. Far above the
 * second a reading node waits in XREADGROUP, so only nodes that stopped reading qualify.
 */
const REAP_IDLE_MS = 10 * 60_000;
const REAP_EVERY_MS = 60_000;

/**
 * Redelivery for one queue on one node: claims (XAUTOCLAIM) entries of the group idle past
 * ackWait, whichever consumer held them: one of this node's that missed ackWait or was nacked,
 * or another node's that died. So a killed node's deliveries come back through its peers, with
 * the delivery counts the pending list kept (XPENDING), and past maxDeliveries go to `.dlq`.
 * Entries deleted from the stream while pending (trimmed by drop-oldest, the queue purged)
 * come back as deleted ids, which XAUTOCLAIM itself takes off the pending list.
 *
 * One timer, armed for the earliest due sweep: every ackWait/4 (at most a second) and sooner
 * after a nack with a short delay.
 */
export class StreamSweep {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private due = Infinity;
  /** When entries given back (nacked, released) become claimable: sweeps due besides the periodic one. */
  private readonly wakeups: number[] = [];
  private running = false;
  private again = false;
  private cursor = '0-0';
  private stopped = false;
  private reapedAt = Date.now();
  /** Entries found deleted while pending. */
  trimmed = 0;

  constructor(private readonly queue: StreamQueue, private readonly host: StreamQueueHost, private readonly redis: Redis) {
    queue.onRelease = (delay) => this.schedule(delay);
    this.arm(Date.now() + this.period());
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** A sweep in `inMs`, besides the periodic ones. */
  schedule(inMs: number): void {
    const at = Date.now() + inMs;
    this.wakeups.push(at);
    this.arm(at);
  }

  private arm(at: number): void {
    if (this.stopped || (this.timer && at >= this.due)) return;
    if (this.timer) clearTimeout(this.timer);
    this.due = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.due = Infinity;
      const now = Date.now();
      for (let i = this.wakeups.length - 1; i >= 0; i--) if (this.wakeups[i]! <= now) this.wakeups.splice(i, 1);
      void this.sweep();
    }, Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  private period(): number {
    return Math.max(10, Math.min(MAX_PERIOD_MS, Math.floor(this.queue.config.ackWait / 4)));
  }

  private async sweep(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    let more = false;
    try {
      more = await this.claim();
    } catch (err) {
      this.host.failed(err, 'claim');
    } finally {
      this.running = false;
    }
    const now = Date.now();
    const rerun = this.again || more;
    this.again = false;
    this.arm(Math.min(rerun ? now : now + this.period(), ...this.wakeups));
  }

  /** One XAUTOCLAIM step; true when there may be more to claim now. */
  private async claim(): Promise<boolean> {
    const q = this.queue;
    const now = Date.now();
    q.expireDeadlines(now);
    q.keepParked(now);
    if (now - this.reapedAt >= REAP_EVERY_MS) {
      this.reapedAt = now;
      await REAP.run(this.redis, [q.key], [REAP_IDLE_MS]);
    }
    const room = q.room();
    if (room === 0) return false;
    const [next, entries, deleted] = (await this.redis.callBuffer(
      'XAUTOCLAIM', q.key, GROUP, this.host.node, q.config.ackWait, this.cursor, 'COUNT', Math.min(room, 256),
    )) as [Buffer, ([Buffer, Buffer[]] | null)[], Buffer[] | undefined];
    this.cursor = next.toString();
    this.trimmed += deleted?.length ?? 0;
    const claimed = entries.filter((e): e is [Buffer, Buffer[]] => e !== null);
    if (claimed.length > 0) {
      // The counts XAUTOCLAIM just raised, from the pending list.
      const pipeline = this.redis.pipeline();
      for (const [id] of claimed) pipeline.xpending(q.key, GROUP, id.toString(), id.toString(), 1);
      const counts = (await pipeline.exec()) ?? [];
      claimed.forEach(([id, fields], i) => {
        const row = (counts[i]?.[1] as [string, string, number, number][] | undefined)?.[0];
        // Gone from the pending list since (acked by its former holder): nothing to deliver.
        if (!row || row[1] !== this.host.node) return;
        q.hand(id.toString(), decodeEntry(fields), Number(row[3]));
      });
    }
    return this.cursor !== '0-0';
  }
}
