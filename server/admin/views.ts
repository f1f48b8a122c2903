import { packr } from '../../protocol/codec.js';
import { toJsonValue } from '../../protocol/json-data.js';
import type { Connection } from '../connection.js';
import type { DurableCore } from '../pubsub/durable/durable-core.js';
import type { DurableQueue } from '../pubsub/durable/durable-queue.js';
import type { QueueConfig } from '../pubsub/durable/queue-records.js';
import type { Space } from '../space/space.js';
import type { SpaceCore } from '../space/space-core.js';
import type { RateSampler } from './rates.js';
import { byCodeUnits } from '../strings.js';

/*
 * Read-only snapshots of what the broker holds, as plain JSON. The field names are a public
 * interface (scripts read `linden ... --json` and /api/*), so renaming one is a breaking change;
 * add fields rather than change them.
 */

export interface QueueView {
  name: string;
  /** Topic pattern it keeps; null for a dead-letter queue, which only the broker fills. */
  pattern: string | null;
  /** Ready messages, waiting for a consumer. */
  depth: number;
  /** Delivered and not yet acknowledged. */
  inFlight: number;
  /** Nacked with a delay, waiting to be ready again. */
  delayed: number;
  /** Every message held: depth + inFlight + delayed. */
  messages: number;
  bytes: number;
  consumers: number;
  /** Messages in `<name>.dlq`. */
  deadLetters: number;
  /** Age of the oldest message held, or null when empty. */
  oldestAgeMs: number | null;
  /** Why messages are not moving, or null when they can. */
  stalled: string | null;
  published: number;
  delivered: number;
  acked: number;
  redelivered: number;
  deadLettered: number;
  expired: number;
  dropped: number;
  /** Ready messages an operator dropped (admin `purge`). */
  purged: number;
  /** Messages taken back from `<name>.dlq` (admin `retry`). */
  retried: number;
  createdAt: number;
  /** Messages stored per second over the last 10 s (rates.ts). */
  publishRate: number;
  /** Messages acknowledged per second over the last 10 s. */
  ackRate: number;
}

export interface QueueDetail extends QueueView {
  config: QueueConfig;
  consumerList: { connection: string; name: string | null; sid: number; inFlight: number }[];
  /** The first messages in line (at most DETAIL_MESSAGES): ids and sizes, never payloads. */
  head: { mid: string; topic: string; bytes: number; ageMs: number; deliveries: number; state: 'ready' | 'in flight' | 'delayed' }[];
  /** Only when asked for (`?peek=N`, admin `peek`): the first N ready messages with their payloads. */
  peek?: PeekedMessage[];
}

/** A ready message shown with its payload; nothing is consumed. */
export interface PeekedMessage {
  mid: string;
  topic: string;
  bytes: number;
  ageMs: number;
  deliveries: number;
  /** The payload as JSON (binary as `{"$bin": "<base64>"}`); absent when it has no JSON form. */
  data?: unknown;
}

/** How many messages a queue's detail lists: enough to spot a poison message, not a dump. */
export const DETAIL_MESSAGES = 10;

export interface SpaceView {
  name: string;
  persistent: boolean;
  /** Tuples a template can match now. */
  tuples: number;
  /** Tuples taken by a transactional `in` and not yet settled. */
  reserved: number;
  bytes: number;
  /** Waiting `in`/`rd` requests. */
  waiting: number;
  /** Notify subscriptions. */
  notify: number;
  outs: number;
  ins: number;
  /** Tuples written per second over the last 10 s (rates.ts). */
  outRate: number;
  /** Tuples taken per second over the last 10 s. */
  inRate: number;
}

export interface SpaceDetail extends SpaceView {
  /** Only when asked for (`?peek=N`, admin `peek`): the N oldest tuples a template could match now; nothing is taken. */
  peek?: { tid: string; tuple: unknown; expiresAt: number | null }[];
}

export interface ConnectionView {
  id: string;
  name: string | null;
  remoteAddress: string;
  codec: string;
  subscriptions: number;
  /** Outbound bytes queued and not yet written to the socket. */
  pendingBytes: number;
  /**
   * How long its output has been over maxPendingBytes with none of it taken by the socket, as of
   * the broker's last check (every quarter of writeDeadlineMs); 0 when it is moving or under
   * budget. At writeDeadlineMs the connection is closed with 4007 (protocol.md §11).
   */
  stalledMs: number;
  messagesIn: number;
  messagesOut: number;
  dropped: number;
  /** The topic of its last will (protocol.md §4.8), or null when it left none. */
  will: string | null;
}

export function queueView(durable: DurableCore, rates: RateSampler, q: DurableQueue, now = Date.now()): QueueView {
  const oldest = q.oldestPublishedAt;
  return {
    name: q.name,
    pattern: q.pattern,
    depth: q.readyCount,
    inFlight: q.inFlightCount,
    delayed: q.count - q.readyCount - q.inFlightCount,
    messages: q.count,
    bytes: q.bytes,
    consumers: q.consumers.length,
    deadLetters: durable.queues.get(`${q.name}.dlq`)?.count ?? 0,
    oldestAgeMs: oldest === undefined ? null : Math.max(0, now - oldest),
    stalled: stallOf(q),
    ...q.stats,
    createdAt: q.createdAt,
    ...rates.queue(q, now),
  };
}

/** `peek`: how many ready messages to show with their payloads (0: none, and no `peek` field). */
export function queueDetail(durable: DurableCore, rates: RateSampler, q: DurableQueue, peek = 0): QueueDetail {
  const now = Date.now();
  const detail: QueueDetail = {
    ...queueView(durable, rates, q, now),
    config: { ...q.config },
    consumerList: q.consumers.map((c) => ({ connection: c.conn.id, name: c.conn.name ?? null, sid: c.sid, inFlight: c.inFlight })),
    head: q.oldest(DETAIL_MESSAGES).map(({ message: m, state }) => ({
      mid: m.mid, topic: m.topic, bytes: m.data.length, ageMs: Math.max(0, now - m.publishedAt), deliveries: m.deliveries, state,
    })),
  };
  if (peek > 0) {
    detail.peek = q.peekReady(peek).map((m) => {
      const shown: PeekedMessage = { mid: m.mid, topic: m.topic, bytes: m.data.length, ageMs: Math.max(0, now - m.publishedAt), deliveries: m.deliveries };
      try {
        shown.data = toJsonValue(packr.unpack(m.data));
      } catch { /* MessagePack with no JSON form: shown without data */ }
      return shown;
    });
  }
  return detail;
}

export function listQueues(durable: DurableCore, rates: RateSampler): QueueView[] {
  const now = Date.now();
  return [...durable.queues.values()].sort(byName).map((q) => queueView(durable, rates, q, now));
}

/**
 * The queue's own reason (no consumers, all at maxInFlight), else a full queue: consumption may
 * be moving, but publishers are refused (or lose old messages), which is the overflow stall.
 */
function stallOf(q: DurableQueue): string | null {
  const reason = q.stallReason();
  if (reason) return reason;
  const full = q.count >= q.config.maxMessages || q.bytes >= q.config.maxBytes;
  if (!full) return null;
  return q.config.overflow === 'reject' ? 'full: new publishes are refused (overflow reject)' : 'full: oldest messages are dropped (overflow drop-oldest)';
}

export function spaceView(rates: RateSampler, s: Space, now = Date.now()): SpaceView {
  return {
    name: s.name,
    persistent: s.persistent,
    tuples: s.tupleCount,
    reserved: Math.max(0, s.liveCount - s.tupleCount),
    bytes: s.bytes,
    waiting: s.waiterCount,
    notify: s.notifierCount,
    outs: s.stats.outs,
    ins: s.stats.ins,
    ...rates.space(s, now),
  };
}

/** `peek`: how many tuples to show (0: none, and no `peek` field). */
export function spaceDetail(rates: RateSampler, s: Space, peek = 0): SpaceDetail {
  const now = Date.now();
  const detail: SpaceDetail = spaceView(rates, s, now);
  if (peek > 0) {
    detail.peek = s.peek(peek, now).map((t) => ({ tid: t.tid, tuple: toJsonValue(t.values), expiresAt: Number.isFinite(t.expiresAt) ? t.expiresAt : null }));
  }
  return detail;
}

export function listSpaces(spaces: SpaceCore, rates: RateSampler): SpaceView[] {
  const now = Date.now();
  return spaces.listSpaces().sort(byName).map((s) => spaceView(rates, s, now));
}

/** A space exists for inspection while it holds something (protocol.md §10.1); asking must not create it. */
export function findSpace(spaces: SpaceCore, name: string): Space | undefined {
  return spaces.listSpaces().find((s) => s.name === name);
}

export function connectionView(c: Connection): ConnectionView {
  return {
    id: c.id,
    name: c.name ?? null,
    remoteAddress: c.remoteAddress,
    codec: c.codec.name,
    subscriptions: c.subs.size,
    pendingBytes: c.pendingBytes,
    stalledMs: c.stalledMs,
    messagesIn: c.stats.messagesIn,
    messagesOut: c.stats.messagesOut,
    dropped: c.stats.dropped,
    will: c.will?.frame.topic ?? null,
  };
}

export function listConnections(connections: Iterable<Connection>): ConnectionView[] {
  return [...connections].map(connectionView);
}

/** Live subscribers per pattern: plain subscriptions, each queue group, each durable queue's consumers. */
export interface SubscriptionView {
  pattern: string;
  /** Queue group the subscribers compete in, or null. */
  group: string | null;
  /** Durable queue they consume, or null. */
  durable: string | null;
  subscribers: number;
  /** Ids of the connections holding them. */
  connections: string[];
}

export function listSubscriptions(connections: Iterable<Connection>): SubscriptionView[] {
  const byKey = new Map<string, SubscriptionView>();
  for (const c of connections) {
    for (const sub of c.subs.values()) {
      const group = sub.group ?? null;
      const durable = sub.durable ?? null;
      const key = JSON.stringify([sub.pattern, group, durable]);
      let view = byKey.get(key);
      if (!view) byKey.set(key, (view = { pattern: sub.pattern, group, durable, subscribers: 0, connections: [] }));
      view.subscribers++;
      if (!view.connections.includes(c.id)) view.connections.push(c.id);
    }
  }
  return [...byKey.values()].sort((a, b) => byCodeUnits(a.pattern, b.pattern) || byCodeUnits(a.group ?? '', b.group ?? '') || byCodeUnits(a.durable ?? '', b.durable ?? ''));
}


function byName(a: { name: string }, b: { name: string }): number {
  return byCodeUnits(a.name, b.name);
}
