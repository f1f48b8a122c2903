import type { Logger } from 'pino';
import { LindenError } from '../../../protocol/errors.js';
import type { Headers, QueueSettings } from '../../../protocol/frames.js';
import { assertPattern } from '../../../protocol/topics.js';
import { doesNotExist } from '../../../protocol/names.js';
import type { Connection } from '../../connection.js';
import type { ResolvedOptions } from '../../options.js';
import type { Store, StoreWrite } from '../../store/store.js';
import type { Payload } from '../payload.js';
import { ConsumerAttachments } from './consumer-attachments.js';
import { retryDeadLetters } from './dead-letter-retry.js';
import { DurableQueue } from './durable-queue.js';
import type { QueueHost, QueueLine } from './queue-line.js';
import { QueueRecordWrites } from './queue-record-writes.js';
import { QueueRoutes } from './queue-routes.js';
import { LeaseHeap } from '../../../protocol/lease-heap.js';
import { ExpiryIndex } from './expiry-index.js';
import { StoreRoom } from '../../store/store-room.js';
import { AfterCommit } from '../../store/after-commit.js';
import { DedupeWindow } from './dedupe-window.js';
import { StreamCore } from '../streams/stream-core.js';
import {
  QUEUE_DEFAULTS, QUEUES_PREFIX, configWithinLimits, countersKey, definedSettings, deleteCounters, deleteExpiry, deleteQueue,
  queuedMessage, sharedConfig, storeMessage, type MessageWatch, type QueueConfig, type QueueCounters, type QueueRecord, type QueuedMessage,
} from './queue-records.js';

export const MAX_QUEUE_NAME = 124;

/**
 * Ready messages a queue on disk keeps in memory (its window); the rest stay in the store until
 * the window, half empty, is topped up. A queue on the memory store keeps everything in memory:
 * its store is memory too.
 */
export const QUEUE_WINDOW = 1_024;

export interface PersistentPublish {
  readonly queues: DurableQueue[];
  /** Resolves once the message is on disk in every queue (undefined: nothing to wait for). */
  readonly durable: Promise<void> | undefined;
  /** The publisher's message id was seen within the dedupe window: nothing was stored. */
  readonly duplicate: boolean;
}

/**
 * Durable subscriptions (queues) and persistent messages: which queues a topic reaches, the
 * dedupe window, declaring and deleting queues, attaching consumers, and rebuilding it all
 * from the store at start.
 */
export class DurableCore implements QueueHost {
  readonly queues = new Map<string, DurableQueue>();
  private readonly routes = new QueueRoutes();
  /** Publisher message ids seen within the dedupe window. */
  private readonly dedupe: DedupeWindow;
  private readonly attached = new ConsumerAttachments<DurableQueue>();
  private readonly records: QueueRecordWrites;
  private seq = 0;
  /** Set by quiesce(): the broker is draining. */
  paused = false;
  private whenIdle: (() => void) | undefined;
  readonly window: number;
  /** Ends ttls on time, so an expired message neither counts toward limits nor shows in depths. */
  private readonly expiries = new LeaseHeap<[QueueLine, QueuedMessage]>(([q, m]) => {
    m.expiry = undefined;
    q.expire(m);
  });

  /** Publishes whose write failed stored nothing: unstore() them. */
  private readonly unstoreOnFailure = new AfterCommit<{ forget: (() => void) | undefined; added: [DurableQueue, QueuedMessage][] }>(
    () => {},
    ({ forget, added }) => this.unstore(forget, added),
    (err) => this.room.failed(err),
  );

  /** Ends the ttls of messages waiting in a backlog, from the index on disk. */
  private readonly expiryIndex: ExpiryIndex;
  /** maxStoreBytes and a full disk: STORE_FULL for what would grow the store. */
  private readonly room: StoreRoom;
  /** Replayable streams: persistent messages are appended to them in the same write as to the queues. */
  readonly streams: StreamCore;

  constructor(private readonly options: ResolvedOptions, readonly store: Store, private readonly log: Logger) {
    this.room = StoreRoom.of(store, options.maxStoreBytes);
    this.records = new QueueRecordWrites(store);
    this.expiryIndex = new ExpiryIndex(
      store,
      (queue, seq, at) => this.queues.get(queue)?.expireStored(seq, at) ?? { writes: [deleteExpiry(at, queue, seq)] },
      (err) => this.storeFailed(err),
    );
    this.dedupe = new DedupeWindow(store, options.dedupeWindowMs, (err) => this.storeFailed(err));
    this.window = store.durable ? QUEUE_WINDOW : Infinity;
    this.streams = new StreamCore(store, log.child({ component: 'streams' }));
  }

  get nextSeq(): number {
    return this.seq;
  }

  async recover(): Promise<{ queues: number; messages: number; streams: number }> {
    let messages = 0;
    for (const [, value] of await this.store.scan(QUEUES_PREFIX)) {
      const r = value as QueueRecord;
      const queue = this.install(r.name, r.pattern, configWithinLimits(r.config), r.createdAt, r.firstSeq ?? 0);
      const last = queue.restore(this.store.get(countersKey(r.name)) as QueueCounters | undefined);
      this.seq = Math.max(this.seq, last + 1, queue.firstSeq);
      messages += queue.count;
    }
    this.expiryIndex.start();
    const { streams } = await this.streams.recover();
    return { queues: this.queues.size, messages, streams };
  }

  /**
   * Creates a queue with the settings given, or checks an existing one has this pattern. Whoever
   * may manage the queue (`qcreate`) changes the settings of an existing one; anyone else (a
   * consumer's `sub`) may only name the ones it has, so one application cannot retune another's
   * queue. `durable` resolves once the queue, as it is then, is stored.
   */
  declare(name: string, pattern: string, settings: QueueSettings, mayConfigure: boolean): { queue: DurableQueue; durable: Promise<void> | undefined } {
    assertPattern(pattern);
    if (name.endsWith('.dlq')) return this.deadLetterQueue(name, settings, mayConfigure);
    if (name.length > MAX_QUEUE_NAME) {
      throw new LindenError('INVALID_FRAME', `queue name of ${name.length} characters: at most ${MAX_QUEUE_NAME}, so "<name>.dlq" fits the 128 of a name`, { name });
    }
    const existing = this.queues.get(name);
    if (existing && existing.pattern !== pattern) {
      throw new LindenError('QUEUE_CONFLICT', `queue "${name}" exists with pattern "${existing.pattern}", not "${pattern}"`, { name, pattern: existing.pattern });
    }
    if (existing) return { queue: existing, durable: this.configure(existing, settings, mayConfigure) };
    this.room.check();
    const queue = this.install(name, pattern, { ...QUEUE_DEFAULTS, ...definedSettings(settings) });
    return { queue, durable: this.records.write(queue) };
  }

  /**
   * Deletes a queue and every message it holds; its dead-letter queue stays until deleted too.
   * Says how many messages went with it and how many consumers were detached.
   */
  remove(name: string): { dropped: number; detached: number; durable: Promise<void> | undefined } {
    const queue = this.queues.get(name);
    if (!queue) throw new LindenError('NOT_FOUND', doesNotExist('queue', name), { name });
    const detached = queue.consumers.length;
    for (const c of [...queue.consumers]) {
      c.conn.sendError(new LindenError('NOT_FOUND', `queue "${name}" was deleted`, { name, sid: c.sid }));
      this.attached.forget(c.conn, c.sid);
      c.conn.subs.delete(c.sid);
    }
    queue.consumers.length = 0;
    const { dropped, writes, deleteBacklog } = queue.purge();
    queue.stop();
    this.queues.delete(name);
    this.records.forget(queue);
    this.routes.remove(queue);
    const durable = this.store.write([...writes, deleteQueue(name), deleteCounters(name)]);
    // The backlog on disk goes after, in pieces; a crash half way leaves records below the seq a
    // namesake starts from (QueueRecord.firstSeq), which it never reads.
    const backlog = deleteBacklog();
    return { dropped, detached, durable: backlog ? Promise.all([durable, backlog]).then(() => undefined) : durable };
  }

  /** The queue of that name, or NOT_FOUND. */
  get(name: string): DurableQueue {
    const queue = this.queues.get(name);
    if (!queue) throw new LindenError('NOT_FOUND', doesNotExist('queue', name), { name });
    return queue;
  }

  /**
   * Admin `purge`: drops the queue's ready messages and keeps the queue, its settings, consumers
   * and the deliveries they hold. `durable` resolves once the deletions are stored.
   */
  purge(name: string): { purged: number; durable: Promise<void> | undefined } {
    return this.get(name).purgeReady();
  }

  /** Admin `retry`: `<name>.dlq`'s ready messages back into `<name>`, as far as they fit (server/pubsub/durable/dead-letter-retry.ts). */
  retryDeadLetters(name: string): { moved: number; remaining: number; durable: Promise<void> | undefined } {
    return retryDeadLetters(this.get(name), this.queues.get(`${name}.dlq`), this.store, () => this.seq++);
  }

  /** Stores a persistent message, with its headers, in every queue its topic reaches. */
  publish(
    topic: string, mid: string, fromPublisher: boolean, payload: Payload, ttl: number | undefined, hdr: Headers | undefined,
    watchFor?: (queue: DurableQueue) => MessageWatch,
  ): PersistentPublish {
    const now = Date.now();
    const seen = fromPublisher ? this.dedupe.seen(mid, now) : undefined;
    // A repeat is confirmed only once the first copy is on disk.
    if (seen) return { queues: [], durable: seen.durable, duplicate: true };
    const queues = this.routes.match(topic);
    const streams = this.streams.route(topic);
    const data = ownBytes(payload.packedData());
    if (queues.length > 0 || streams.length > 0) this.room.check(data.length * (queues.length + streams.length));
    if (streams.length > 0) this.streams.check(streams, data.length, now);
    // Check every queue before changing any, so a refusal leaves all of them as they were.
    for (const q of queues) {
      if (!q.canTake(data.length)) {
        throw new LindenError('QUEUE_FULL', `queue "${q.name}" is full (maxMessages ${q.config.maxMessages}, maxBytes ${q.config.maxBytes}, overflow ${q.config.overflow}); nothing was stored`, { queue: q.name });
      }
    }
    const writes: StoreWrite[] = [];
    // The queues' deferred writes go first in this transaction, before the counters that count them.
    const deferred = [];
    for (const q of queues) {
      const d = q.takeDeferred();
      if (!d) continue;
      deferred.push(d);
      for (const w of d.writes) writes.push(w);
    }
    const seq = this.seq++;
    const expiresAt = ttl === undefined ? Infinity : now + ttl;
    const added: [DurableQueue, QueuedMessage][] = [];
    for (const q of queues) {
      writes.push(...q.makeRoom(data.length));
      // A queue bound to this very topic lends its pattern: one string for all its messages.
      const message = queuedMessage(seq, mid, q.pattern === topic ? q.pattern : topic, data, hdr, now, expiresAt, 0, watchFor?.(q));
      q.admit(message);
      writes.push(...storeMessage(q.name, message), q.counters());
      added.push([q, message]);
    }
    const appended = streams.length > 0 ? this.streams.append(streams, topic, mid, data, hdr, now, writes) : undefined;
    if (fromPublisher) writes.push(...this.dedupe.writes(mid, now));
    const durable = writes.length > 0 ? this.store.write(writes) : undefined;
    if (appended) this.streams.appended(streams, appended, durable);
    for (const d of deferred) d.issued(durable);
    const forget = fromPublisher ? this.dedupe.stored(mid, now, durable) : undefined;
    for (const [q, m] of added) q.enqueue(m, durable);
    if (durable) this.unstoreOnFailure.add(durable, { forget, added });
    return { queues, durable, duplicate: false };
  }

  /**
   * A `sub` with `durable`: declares the queue if needed and attaches the connection as a
   * consumer. Only a user who may manage the queue (on a broker with users) changes its settings
   * this way; anyone else naming other settings gets QUEUE_CONFLICT.
   */
  attach(conn: Connection, sid: number, name: string, pattern: string, settings: QueueSettings, mayConfigure = false): Promise<void> | undefined {
    const { queue, durable } = this.declare(name, pattern, settings, mayConfigure);
    this.attached.add(conn, sid, queue, queue.attach(conn, sid));
    return durable;
  }

  detach(conn: Connection, sid: number): void {
    this.attached.detach(conn, sid);
  }

  detachAll(conn: Connection): void {
    this.attached.detachAll(conn);
  }

  /**
   * Starts no more deliveries, and resolves once no delivery is in flight: each was acked, nacked
   * or taken back. What is not in flight stays stored for the broker that starts next.
   */
  quiesce(): Promise<void> {
    this.paused = true;
    return new Promise((resolve) => {
      this.whenIdle = resolve;
      this.inFlightEnded();
    });
  }

  /** What the core holds besides the queues' own messages, for the memory tests (server/census.ts). */
  census(): { queueTopicNodes: number; queueRoutes: number; dedupe: number; expiries: number; unstored: number } {
    return { queueTopicNodes: this.routes.nodeCount, queueRoutes: this.routes.size, dedupe: this.dedupe.size, expiries: this.expiries.size, unstored: this.records.size };
  }

  stop(): void {
    this.streams.stop();
    this.dedupe.stop();
    this.expiries.stop();
    this.expiryIndex.stop();
    for (const q of this.queues.values()) {
      q.flushDeferred(); // acks and delivery counts of the last tick, before the store closes
      q.stop();
    }
  }

  // ---- QueueHost ----
  deadLetters(of: DurableQueue): DurableQueue {
    const name = `${of.name}.dlq`;
    const existing = this.queues.get(name);
    if (existing) return existing;
    const dlq = this.install(name, null, { ...QUEUE_DEFAULTS, maxMessages: Number.MAX_SAFE_INTEGER, maxBytes: Number.MAX_SAFE_INTEGER });
    this.records.write(dlq)?.catch((err: unknown) => this.storeFailed(err));
    return dlq;
  }

  expireAt(queue: QueueLine, message: QueuedMessage): void {
    message.expiry = this.expiries.add([queue, message], message.expiresAt);
  }

  expiresInBacklog(at: number): void {
    this.expiryIndex.due(at);
  }

  forgetExpiry(message: QueuedMessage): void {
    if (!message.expiry) return;
    this.expiries.remove(message.expiry);
    message.expiry = undefined;
  }

  storeFailed(err: unknown): void {
    this.room.failed(err);
    this.log.error({ err }, 'store write failed');
  }

  inFlightEnded(): void {
    if (!this.whenIdle) return;
    for (const q of this.queues.values()) if (q.inFlightCount > 0) return;
    this.whenIdle();
    this.whenIdle = undefined;
  }

  // ---- internals ----
  /** Dead-letter queues are made by the broker; consumers attach to them whatever pattern they name. */
  private deadLetterQueue(name: string, settings: QueueSettings, mayConfigure: boolean): { queue: DurableQueue; durable: Promise<void> | undefined } {
    const existing = this.queues.get(name);
    if (existing) return { queue: existing, durable: this.configure(existing, settings, mayConfigure) };
    const parent = this.queues.get(name.slice(0, -'.dlq'.length));
    if (!parent) throw new LindenError('NOT_FOUND', `${doesNotExist('queue', name)}: there is no queue "${name.slice(0, -4)}" whose dead letters it would hold`, { name });
    // Created by this request, like any queue: its settings are the first.
    const queue = this.deadLetters(parent);
    return { queue, durable: this.configure(queue, settings, true) };
  }

  /**
   * Applies the settings given, or (`mayConfigure` false) refuses any that differ from the
   * queue's; resolves once the queue, as it is now, is stored.
   */
  private configure(queue: DurableQueue, settings: QueueSettings, mayConfigure: boolean): Promise<void> | undefined {
    const config = { ...queue.config, ...definedSettings(settings) };
    const differs = (Object.keys(config) as (keyof QueueConfig)[]).find((k) => config[k] !== queue.config[k]);
    if (differs === undefined) return this.records.stored(queue);
    if (!mayConfigure) {
      const value = queue.config[differs];
      throw new LindenError(
        'QUEUE_CONFLICT',
        `queue "${queue.name}" has ${differs} ${value}, not ${config[differs]}: a consumer attaches with the queue's settings or none; qcreate changes them`,
        { name: queue.name, setting: differs, value },
      );
    }
    queue.config = sharedConfig(config);
    queue.dispatch(); // a larger maxInFlight may free consumers
    return this.records.write(queue);
  }

  /**
   * A new queue starts at the broker's next seq; a dead-letter queue at 0, as dead letters keep
   * the seq they had in its parent.
   */
  private install(name: string, pattern: string | null, config: QueueConfig, createdAt?: number, firstSeq = pattern === null ? 0 : this.seq): DurableQueue {
    const queue = new DurableQueue(name, pattern, sharedConfig(config), this, createdAt, firstSeq);
    this.queues.set(name, queue);
    this.routes.add(queue);
    return queue;
  }

  /**
   * A publish whose write failed stored nothing: its mid is free for the retry (protocol.md
   * §9.7), and its copies still in line leave, so a retry that is stored is not received twice.
   * A copy a consumer already holds stays with it.
   */
  private unstore(forget: (() => void) | undefined, added: [DurableQueue, QueuedMessage][]): void {
    forget?.();
    for (const [q, m] of added) q.withdraw(m);
  }
}

/**
 * A small payload copied out of the buffer it arrived in (an inbound frame, msgpackr's output):
 * a message held in memory would keep all of that buffer alive. Node's pool lays the copies
 * side by side, without a buffer each.
 */
function ownBytes(data: Uint8Array): Uint8Array {
  return data.byteLength <= 1024 && data.byteLength < data.buffer.byteLength ? Buffer.from(data) : data;
}
