import type { Redis } from 'ioredis';
import { packr } from '../../../protocol/codec.js';
import { toJsonValue } from '../../../protocol/json-data.js';
import { DETAIL_MESSAGES, type PeekedMessage, type QueueDetail, type QueueView } from '../../admin/views.js';
import type { QueueDefinition } from './queue-directory.js';
import { GROUP, streamKey } from './redis-keys.js';
import { decodeEntry, type StreamMessage } from './stream-entry.js';

/*
 * The admin `queues` and `queue` views in cluster mode: the shapes of the local views
 * (admin/views.ts), read from Redis for the whole cluster. Counters and rates are not kept in
 * Redis (each node counts its own), so they read 0 there; `delayed` is part of `inFlight`, as
 * Redis holds a delayed message pending until it is ready again.
 */

/** A queue's consumers: how many on all live nodes, and this node's own (with connection ids). */
export interface ClusterConsumers {
  count(queue: string): number;
  local(queue: string): QueueDetail['consumerList'];
}

/** One round trip for every queue: XLEN, XPENDING, the dead letters' XLEN and the oldest entry. */
export async function clusterQueueViews(redis: Redis, defs: QueueDefinition[], consumers: ClusterConsumers): Promise<QueueView[]> {
  const sorted = [...defs].sort((a, b) => (a.name < b.name ? -1 : 1));
  if (sorted.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const q of sorted) {
    pipeline.xlen(streamKey(q.name)).xpending(streamKey(q.name), GROUP).xlen(streamKey(`${q.name}.dlq`)).xrange(streamKey(q.name), '-', '+', 'COUNT', 1);
  }
  const replies = (await pipeline.exec()) ?? [];
  const now = Date.now();
  return sorted.map((q, i) => {
    const [lenErr, len] = replies[4 * i] ?? [];
    if (lenErr) throw lenErr;
    // No group yet (nothing ever read): nothing pending.
    const pending = replies[4 * i + 1]?.[1] as [number, ...unknown[]] | undefined;
    const oldest = (replies[4 * i + 3]?.[1] as [string, string[]][] | undefined)?.[0];
    const messages = Number(len ?? 0);
    const inFlight = Number(pending?.[0] ?? 0);
    const depth = Math.max(0, messages - inFlight);
    const count = consumers.count(q.name);
    const publishedAt = oldest ? Number(oldest[1][oldest[1].indexOf('p') + 1]) : undefined;
    return {
      name: q.name,
      pattern: q.pattern,
      depth,
      inFlight,
      delayed: 0,
      messages,
      bytes: 0,
      consumers: count,
      deadLetters: Number(replies[4 * i + 2]?.[1] ?? 0),
      oldestAgeMs: publishedAt === undefined ? null : Math.max(0, now - publishedAt),
      stalled: stallOf(q, depth, messages, count),
      published: 0, delivered: 0, acked: 0, redelivered: 0, deadLettered: 0, expired: 0, dropped: 0, purged: 0, retried: 0,
      createdAt: q.createdAt,
      publishRate: 0,
      ackRate: 0,
    };
  });
}

/** `peek`: how many ready messages to show with their payloads (0: none, and no `peek` field). */
export async function clusterQueueDetail(redis: Redis, def: QueueDefinition, consumers: ClusterConsumers, peek = 0): Promise<QueueDetail> {
  const [view] = await clusterQueueViews(redis, [def], consumers);
  const now = Date.now();
  const head = await entries(redis, def.name, '-', DETAIL_MESSAGES);
  const detail: QueueDetail = {
    ...view!,
    config: { ...def.config },
    consumerList: consumers.local(def.name),
    head: head.map(({ message: m, deliveries }) => ({
      mid: m.mid, topic: m.topic, bytes: m.data.length, ageMs: Math.max(0, now - m.publishedAt), deliveries, state: deliveries > 0 ? 'in flight' as const : 'ready' as const,
    })),
  };
  if (peek > 0) detail.peek = (await readyEntries(redis, def.name, peek)).map((m) => peeked(m, now));
  return detail;
}

interface Entry {
  id: string;
  message: StreamMessage;
  /** Its delivery count when pending, 0 when ready. */
  deliveries: number;
}

/** Up to `count` entries from `from` (XRANGE), each with its delivery count if pending (XPENDING over the same range). */
async function entries(redis: Redis, queue: string, from: string, count: number): Promise<Entry[]> {
  const key = streamKey(queue);
  const page = (await redis.xrangeBuffer(key, from, '+', 'COUNT', count)) as unknown as [Buffer, Buffer[]][];
  if (page.length === 0) return [];
  const first = page[0]![0].toString();
  const last = page[page.length - 1]![0].toString();
  const pending = await redis.xpending(key, GROUP, first, last, page.length).catch(() => []) as [string, string, number, number][];
  const counts = new Map(pending.map(([id, , , dc]) => [id, Number(dc)]));
  return page.map(([id, fields]) => ({ id: id.toString(), message: decodeEntry(fields), deliveries: counts.get(id.toString()) ?? 0 }));
}

/** The first `count` ready (not pending) entries, paging past those in flight. */
async function readyEntries(redis: Redis, queue: string, count: number): Promise<StreamMessage[]> {
  const ready: StreamMessage[] = [];
  for (let from = '-'; ready.length < count;) {
    const page = await entries(redis, queue, from, 100);
    for (const e of page) if (e.deliveries === 0 && ready.length < count) ready.push(e.message);
    if (page.length < 100) break;
    from = `(${page[page.length - 1]!.id}`;
  }
  return ready;
}

function peeked(m: StreamMessage, now: number): PeekedMessage {
  const shown: PeekedMessage = { mid: m.mid, topic: m.topic, bytes: m.data.length, ageMs: Math.max(0, now - m.publishedAt), deliveries: 0 };
  try {
    shown.data = toJsonValue(packr.unpack(m.data));
  } catch { /* MessagePack with no JSON form: shown without data */ }
  return shown;
}

/** As the local view's (views.ts stallOf), from what Redis knows: consumers' room is per node, not read here. */
function stallOf(q: QueueDefinition, depth: number, messages: number, consumers: number): string | null {
  if (depth > 0 && consumers === 0) return 'no consumers';
  if (messages < q.config.maxMessages) return null;
  return q.config.overflow === 'reject' ? 'full: new publishes are refused (overflow reject)' : 'full: oldest messages are dropped (overflow drop-oldest)';
}
