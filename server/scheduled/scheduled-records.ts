import type { Headers } from '../../protocol/headers.js';
import type { CodecName } from '../../protocol/version.js';
import type { Key, StoreWrite } from '../store/store.js';

/**
 * How scheduled deliveries lie in the Store (protocol.md §9.10):
 *   ['sd', id] -> ScheduledRecord   a persistent publish or an out to a persistent space, not yet due
 * Written at submission (the submission receipt waits for it) and deleted in the same
 * transaction as the writes that route the message when it is due (LmdbStore group-commits the
 * writes of one tick), so a crash leaves either the schedule or its delivery, never neither.
 * Transient ones are never written: they live in memory and are dropped on restart.
 * Recovery reads them all back (scan), so their number is bounded by maxScheduled.
 */
export const SCHEDULED_PREFIX: Key = ['sd'];
export const scheduledKey = (id: string): Key => ['sd', id];

/** What was published: the `pub` fields that route it, as the publisher's codec carried them. */
export interface ScheduledPub {
  kind: 'pub';
  topic: string;
  data: unknown;
  mode?: 'persistent';
  ttl?: number;
  hdr?: Headers;
  /** Published with `retain` when due (protocol.md §7.4). */
  retain?: true;
}

/** What was written: the `out` fields that make the tuple, as the writer's codec carried them. */
export interface ScheduledOut {
  kind: 'out';
  space: string;
  tuple: unknown[];
  ttl?: number;
  hdr?: Headers;
  persistent?: boolean;
}

export interface ScheduledRecord {
  /** The schedule's id: the message's `mid` for a publish; made by the broker for an out. */
  id: string;
  /** When it becomes visible, in ms since the epoch. */
  due: number;
  createdAt: number;
  /** The codec of the connection that sent it: `data` and `tuple` are in its form. */
  codec: CodecName;
  /** Who scheduled it (brokers with users): they may cancel it, as may anyone allowed to publish on the topic. */
  user?: string;
  /** Payload or tuple bytes, counted against maxScheduledBytes. */
  bytes: number;
  what: ScheduledPub | ScheduledOut;
}

export const putScheduled = (r: ScheduledRecord): StoreWrite => ({ key: scheduledKey(r.id), value: r });
export const deleteScheduled = (id: string): StoreWrite => ({ key: scheduledKey(id) });

/** One row of `linden scheduled` and GET /api/scheduled. */
export interface ScheduledView {
  id: string;
  kind: 'pub' | 'out';
  /** The topic of a publish, the space of an out. */
  target: string;
  due: string;
  mode: 'persistent' | 'transient';
  bytes: number;
  createdAt: string;
}
