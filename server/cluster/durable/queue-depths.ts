import type { Redis } from 'ioredis';
import type { QueueDefinition } from './queue-directory.js';
import { GROUP, streamKey } from './redis-keys.js';

/** A durable queue as Redis holds it for the whole cluster (admin `cluster`, protocol.md §17). */
export interface ClusterQueueDepth {
  readonly name: string;
  /** null for a dead-letter queue. */
  readonly pattern: string | null;
  /** Every message held: the stream's length (XLEN; acked entries are deleted). */
  readonly messages: number;
  /** Delivered to a consumer on some node and not acked yet (XPENDING), nacked with a delay included. */
  readonly inFlight: number;
  /** Waiting for a consumer: messages - inFlight. */
  readonly depth: number;
}

/** Reads XLEN and XPENDING of every queue in one round trip. */
export async function queueDepths(redis: Redis, queues: Iterable<QueueDefinition>): Promise<ClusterQueueDepth[]> {
  const defs = [...queues].sort((a, b) => (a.name < b.name ? -1 : 1));
  if (defs.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const q of defs) pipeline.xlen(streamKey(q.name)).xpending(streamKey(q.name), GROUP);
  const replies = (await pipeline.exec()) ?? [];
  return defs.map((q, i) => {
    const [lenErr, len] = replies[2 * i] ?? [];
    if (lenErr) throw lenErr;
    // No group yet (nothing ever read): nothing pending.
    const pending = replies[2 * i + 1]?.[1] as [number, ...unknown[]] | undefined;
    const messages = Number(len ?? 0);
    const inFlight = Number(pending?.[0] ?? 0);
    return { name: q.name, pattern: q.pattern, messages, inFlight, depth: Math.max(0, messages - inFlight) };
  });
}
