import type { QueueSettings } from '../../../protocol/frames.js';
import type { Headers } from '../../../protocol/headers.js';
import { MAX_DURATION_MS } from '../../../protocol/limits.js';
import type { Key, StoreWrite } from '../../store/store.js';
import type { Lease } from '../../../protocol/lease-heap.js';

/**
 * How durable subscriptions lie in the Store:
 *   ['q', name]       -> QueueRecord     a durable subscription and its settings
 *   ['c', name]       -> QueueCounters   how many messages it holds and their bytes, written with every change,
 *                                        and below which seq every message was delivered
 *   ['m', name, seq]  -> MessageRecord   a message it still holds, in broker-wide seq order
 *   ['n', name, seq]  -> deliveries      how often that message was delivered, where the counters'
 *                                        `delivered` does not say it (DeliveryCounts)
 *   ['x', expiresAt, name, seq] -> 0     the ttl index: messages with a ttl, by when it ends
 *   ['d', mid]        -> expiresAt        a publisher message id inside its dedupe window
 *   ['e', expiresAt, mid] -> 0           the same, by when it leaves the window (dedupe-window.ts)
 * A message matched by several queues is stored once per queue: each copy lives and dies with
 * its own acknowledgement.
 */
export interface QueueConfig {
  ackWait: number;
  maxInFlight: number;
  maxDeliveries: number;
  maxMessages: number;
  maxBytes: number;
  overflow: 'reject' | 'drop-oldest';
}

export const QUEUE_DEFAULTS: QueueConfig = Object.freeze({
  ackWait: 30_000,
  maxInFlight: 1_000,
  maxDeliveries: 5,
  maxMessages: 1_000_000,
  maxBytes: 256 * 1024 * 1024,
  overflow: 'reject',
});

/** QUEUE_DEFAULTS itself for a config equal to it: most queues then share one (issue 21: many small queues). */
export function sharedConfig(config: QueueConfig): QueueConfig {
  const keys = Object.keys(QUEUE_DEFAULTS) as (keyof QueueConfig)[];
  return Object.keys(config).length === keys.length && keys.every((k) => config[k] === QUEUE_DEFAULTS[k]) ? QUEUE_DEFAULTS : config;
}

/** The settings a frame names, without those it leaves out: laid over a queue's config. */
export function definedSettings(s: QueueSettings): Partial<QueueConfig> {
  const out: Partial<QueueConfig> = {};
  for (const key of Object.keys(QUEUE_DEFAULTS) as (keyof QueueConfig)[]) {
    if (s[key] !== undefined) (out as Record<string, unknown>)[key] = s[key];
  }
  return out;
}

/**
 * A stored config within today's ceilings (protocol/limits.ts): brokers before them stored any
 * ackWait, and one of 2^31 ms or more would make every delivery's timer fire after 1 ms.
 */
export function configWithinLimits(config: QueueConfig): QueueConfig {
  return config.ackWait <= MAX_DURATION_MS ? config : { ...config, ackWait: MAX_DURATION_MS };
}

export interface QueueRecord {
  name: string;
  /** null for a dead-letter queue: it takes messages only from its parent. */
  pattern: string | null;
  config: QueueConfig;
  createdAt: number;
  /**
   * The broker's next seq when the queue was made: message records under its name below it are
   * a deleted namesake's, whose deletion a crash interrupted. Absent (0) in older stores.
   */
  firstSeq?: number;
}

/** What a queue holds, stored with every write that changes it: a restart reads this, not every message. */
export interface QueueCounters {
  count: number;
  bytes: number;
  /** Every message below this seq was delivered once, unless its ['n'] record says otherwise. Absent: 0. */
  delivered?: number;
}

/** A message held by a queue, in memory and (as MessageRecord) in the store. */
export interface QueuedMessage {
  readonly seq: number;
  readonly mid: string;
  readonly topic: string;
  /** The payload as MessagePack bytes, whatever codec it arrived in. */
  readonly data: Uint8Array;
  /** The publisher's headers, delivered with every (re)delivery; undefined without. */
  readonly hdr?: Headers;
  readonly publishedAt: number;
  /** ms since the epoch; Infinity without a ttl. */
  readonly expiresAt: number;
  deliveries: number;
  /** Position in its queue's ready heap (SeqHeap bookkeeping). */
  heapIndex?: number;
  /** Its entry in the broker's ttl index while it has one (in memory only). */
  expiry?: Lease<unknown>;
  /** A publisher waiting for delivery or processing of this copy (in memory only: the wait ends with its connection). */
  watch?: MessageWatch;
}

export interface MessageWatch {
  delivered(): void;
  processed(): void;
  /** Dead-lettered: it will not be processed here. */
  rejected(reason: string): void;
  /** Expired, dropped or purged unprocessed. */
  lost(): void;
}

interface MessageRecord {
  mid: string;
  topic: string;
  data: Uint8Array;
  publishedAt: number;
  expiresAt: number | null;
  deliveries: number;
  /** Absent without headers (and in records written before headers existed). */
  hdr?: Headers;
}

export const QUEUES_PREFIX: Key = ['q'];
export const messagesPrefix = (queue: string): Key => ['m', queue];

export const putQueue = (q: QueueRecord): StoreWrite => ({ key: ['q', q.name], value: q });
export const deleteQueue = (name: string): StoreWrite => ({ key: ['q', name] });
export const countersKey = (name: string): Key => ['c', name];
export const deleteCounters = (name: string): StoreWrite => ({ key: ['c', name] });

export const deliveriesPrefix = (queue: string): Key => ['n', queue];

/** The count record of `m`: put when its count is not `implied`, deleted when it is. */
export function putDeliveries(queue: string, m: QueuedMessage, implied: number): StoreWrite {
  return m.deliveries !== implied ? { key: ['n', queue, m.seq], value: m.deliveries } : { key: ['n', queue, m.seq] };
}

export function putMessage(queue: string, m: QueuedMessage): StoreWrite {
  const record: MessageRecord = {
    mid: m.mid, topic: m.topic, data: m.data, publishedAt: m.publishedAt,
    expiresAt: Number.isFinite(m.expiresAt) ? m.expiresAt : null, deliveries: m.deliveries,
  };
  if (m.hdr !== undefined) record.hdr = m.hdr;
  return { key: ['m', queue, m.seq], value: record };
}

/** A new message: its record and, with a ttl, its entry in the ttl index. */
export function storeMessage(queue: string, m: QueuedMessage): StoreWrite[] {
  const put = putMessage(queue, m);
  return Number.isFinite(m.expiresAt) ? [put, { key: ['x', m.expiresAt, queue, m.seq], value: 0 }] : [put];
}

/** A message leaving: its record, its ttl index entry and its count record, which it has when its count is not `implied`. */
export function deleteMessage(queue: string, m: { readonly seq: number; readonly expiresAt: number; readonly deliveries: number }, implied: number): StoreWrite[] {
  const out: StoreWrite[] = [{ key: ['m', queue, m.seq] }];
  if (Number.isFinite(m.expiresAt)) out.push(deleteExpiry(m.expiresAt, queue, m.seq));
  if (m.deliveries !== implied) out.push(deleteDeliveries(queue, m.seq));
  return out;
}

export const deleteDeliveries = (queue: string, seq: number): StoreWrite => ({ key: ['n', queue, seq] });

export const EXPIRY_PREFIX: Key = ['x'];
export const deleteExpiry = (expiresAt: number, queue: string, seq: number): StoreWrite => ({ key: ['x', expiresAt, queue, seq] });

/** What the deletion of stored records needs besides their keys: their ttl index entries. */
export function expiryOfRecord(queue: string, key: Key, value: unknown): StoreWrite[] {
  const at = (value as MessageRecord).expiresAt;
  return at === null ? [] : [deleteExpiry(at, queue, key[2] as number)];
}

/** `deliveries`: from its count record or the queue's `delivered` (records written before those kept the count inside). */
export function messageFromRecord(key: Key, value: unknown, deliveries: number): QueuedMessage {
  const r = value as MessageRecord;
  return queuedMessage(key[2] as number, r.mid, r.topic, r.data, r.hdr, r.publishedAt, r.expiresAt ?? Infinity, Math.max(r.deliveries, deliveries), undefined);
}

/**
 * A message in memory, every field set here, in one order: V8 then keeps them all inside the
 * object, of one shape, instead of adding a property array when the heap or the ttl index sets
 * theirs later (about 40 bytes a message; issue 21: many small queues).
 */
export function queuedMessage(
  seq: number, mid: string, topic: string, data: Uint8Array, hdr: Headers | undefined, publishedAt: number, expiresAt: number,
  deliveries: number, watch: MessageWatch | undefined,
): QueuedMessage {
  return { seq, mid, topic, data, hdr, publishedAt, expiresAt, deliveries, heapIndex: -1, expiry: undefined, watch };
}


