import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { LindenError } from '../../../protocol/errors.js';
import type { Headers, QueueSettings } from '../../../protocol/frames.js';
import { assertPattern } from '../../../protocol/topics.js';
import { doesNotExist } from '../../../protocol/names.js';
import type { Connection } from '../../connection.js';
import type { ResolvedOptions } from '../../options.js';
import { ConsumerAttachments } from '../../pubsub/durable/consumer-attachments.js';
import type { MessageWatch } from '../../pubsub/durable/queue-records.js';
import type { Payload } from '../../pubsub/payload.js';
import { disconnectRedis, openRedis, readyWithin, unavailable, type RedisTarget } from '../redis-target.js';
import { QueueDirectory, type QueueDefinition } from './queue-directory.js';
import { queueDepths, type ClusterQueueDepth } from './queue-depths.js';
import { ReceiptWatches, type ReceiptEvent } from './receipt-watches.js';
import { QUEUES_CHANNEL, QUEUES_HASH, QUEUES_VERSION, midKey, streamKey } from './redis-keys.js';
import { entryArgs, type StreamMessage } from './stream-entry.js';
import { DEAD_LETTER, PUBLISH, PURGE, RETRY, publishArgs, streamPublishArgs } from './stream-scripts.js';
import { ClusterStreams } from '../streams/cluster-streams.js';
import { STREAMS_VERSION, streamKeys } from '../streams/stream-keys.js';
import { StreamQueue, type StreamQueueHost } from './stream-queue.js';
import { StreamSweep } from './stream-sweep.js';
import { MAX_QUEUE_NAME } from '../../pubsub/durable/durable-core.js';

/** How long a starting broker waits for Redis before it listens anyway. */
const START_WAIT_MS = 2_000;

/** What a persistent publish stored: the queues it reached, or nothing for a repeated mid. */
export interface ClusterPublish {
  readonly queues: string[];
  readonly duplicate: boolean;
}

/**
 * Durable queues and persistent messages of a cluster (the `redis` option): the same frames as
 * DurableCore, with the state in Redis Streams (redis-keys.ts) so that every broker sharing the
 * Redis serves every queue, and what Redis acknowledged survives the death of any broker.
 */
export class ClusterQueues implements StreamQueueHost {
  private readonly subscriber: Redis;
  private readonly directory: QueueDirectory;
  private readonly watches: ReceiptWatches;
  /** Queues with consumers on this node. */
  private readonly active = new Map<string, { queue: StreamQueue; sweep: StreamSweep }>();
  private readonly attached = new ConsumerAttachments<StreamQueue>();
  /** Redis was unreachable at the last failure: logged once per outage. */
  private down = false;
  /** Set by quiesce(): the broker is draining, no delivery starts here. */
  paused = false;
  private whenIdle: (() => void) | undefined;
  readonly stats = { published: 0, deadLettered: 0, duplicates: 0 };
  /** Replayable streams (issue 17): a persistent publish appends to them in the same script as to the queues. */
  readonly streams: ClusterStreams;

  /**
   * `node`: the broker's id in the cluster, the bus's too. `redis`: the node's command connection
   * (openRedis 'command'), shared with the bus; this closes it in stop(), after the bus stopped.
   */
  constructor(
    readonly node: string, private readonly target: RedisTarget, readonly redis: Redis, private readonly options: ResolvedOptions, private readonly log: Logger,
  ) {
    this.subscriber = openRedis(this.target, `linden:${this.node}:queues`, 'subscriber');
    this.streams = new ClusterStreams(node, target, redis, log.child({ component: 'streams' }));
    this.watches = new ReceiptWatches(options.maxTimeoutMs);
    this.directory = new QueueDirectory(this.redis, log, (name, def) => this.definitionChanged(name, def));
    this.subscriber.on('message', () => this.directory.reloadInBackground());
    // Back after an outage: what was announced meanwhile is caught up by a reload.
    this.redis.on('ready', () => {
      if (this.down) log.info({ node: this.node }, 'Redis reachable again');
      this.down = false;
      this.directory.reloadInBackground();
    });
  }

  /**
   * Loads the queues, waiting a little for Redis; a Redis not reachable yet is waited for in the
   * background (STORE_UNAVAILABLE meanwhile), so a broker starts whether or not it is up.
   */
  async start(): Promise<void> {
    // Changes announced before the subscription took are caught up by a reload once it has; a
    // command connection not ready yet reloads when it is (the 'ready' handler), not with a warning now.
    this.subscriber.subscribe(QUEUES_CHANNEL).then(() => {
      if (this.redis.status === 'ready') this.directory.reloadInBackground();
    }, (err: unknown) => this.failed(err, 'subscribe'));
    await readyWithin(this.redis, START_WAIT_MS);
    if (this.redis.status === 'ready') await this.directory.reload().catch((err: unknown) => this.failed(err, 'load queues'));
    else this.failed(new Error(`not reachable within ${START_WAIT_MS} ms`), 'start');
    await this.streams.start();
    this.log.info({ node: this.node, replicas: this.target.replicas }, 'cluster queues on Redis');
  }

  /** Stops reading; what was sent to Redis (deliveries given back by closed connections) is answered first. */
  async stop(): Promise<void> {
    const readers: Promise<void>[] = [];
    for (const { queue, sweep } of this.active.values()) {
      sweep.stop();
      readers.push(queue.stop());
    }
    this.active.clear();
    await Promise.all([...readers, disconnectRedis(this.subscriber), this.streams.stop()]);
    await this.redis.quit().catch(() => undefined);
    await disconnectRedis(this.redis);
  }

  /** Every queue's depth across the cluster, from Redis (admin `cluster`); STORE_UNAVAILABLE while Redis is away. */
  async depths(): Promise<ClusterQueueDepth[]> {
    try {
      return await queueDepths(this.redis, this.directory.queues.values());
    } catch (err) {
      throw unavailable(err);
    }
  }

  definition(name: string): QueueDefinition | undefined {
    return this.directory.queues.get(name);
  }

  /** Every queue's definition as this node last loaded it (admin views). */
  definitions(): QueueDefinition[] {
    return [...this.directory.queues.values()];
  }

  /** The queue of that name, or NOT_FOUND, reading the definitions again before refusing (another node may have just created it). */
  async find(name: string): Promise<QueueDefinition> {
    if (!this.directory.queues.has(name)) await this.directory.reload().catch((err: unknown) => { throw unavailable(err); });
    return this.directory.get(name);
  }

  /** Consumers on this node per queue with any: what this node's summary tells the others. */
  consumerCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const [name, { queue }] of this.active) if (queue.consumers.length > 0) counts[name] = queue.consumers.length;
    return counts;
  }

  /** This node's consumers of the queue, as the local `queue` view lists them. */
  localConsumers(name: string): { connection: string; name: string | null; sid: number; inFlight: number }[] {
    const queue = this.active.get(name)?.queue;
    return (queue?.consumers ?? []).map((c) => ({ connection: c.conn.id, name: c.conn.name ?? null, sid: c.sid, inFlight: c.inFlight }));
  }

  /** Admin `purge` for the whole cluster: the entries no node holds pending, in one script (PURGE). */
  async purge(name: string): Promise<number> {
    await this.find(name);
    try {
      return Number(await PURGE.run(this.redis, [streamKey(name)], []));
    } catch (err) {
      throw unavailable(err);
    }
  }

  /** Admin `retry` for the whole cluster: `<name>.dlq`'s ready entries back into `<name>` while it has room (RETRY). */
  async retry(name: string): Promise<{ moved: number; remaining: number }> {
    const def = await this.find(name);
    if (def.pattern === null) {
      throw new LindenError('INVALID_FRAME', `"${name}" is a dead-letter queue: name the queue whose dead letters to move back, "${name.slice(0, -'.dlq'.length)}"`, { t: 'admin', field: 'name' });
    }
    try {
      const [moved, remaining] = (await RETRY.run(this.redis, [streamKey(name), streamKey(`${name}.dlq`)], [def.config.maxMessages])) as [number, number];
      return { moved: Number(moved), remaining: Number(remaining) };
    } catch (err) {
      throw unavailable(err);
    }
  }

  // ---- the frames ----
  /** `qcreate`, and the declaring part of a durable `sub`. */
  async declare(name: string, pattern: string, settings: QueueSettings, mayConfigure: boolean): Promise<QueueDefinition> {
    assertPattern(pattern);
    if (name.length > MAX_QUEUE_NAME) {
      throw new LindenError('INVALID_FRAME', `queue name of ${name.length} characters: at most ${MAX_QUEUE_NAME}, so "<name>.dlq" fits the 128 of a name`, { name });
    }
    try {
      if (!name.endsWith('.dlq')) return await this.directory.declare(name, pattern, settings, mayConfigure);
      const parent = name.slice(0, -'.dlq'.length);
      if (!this.directory.queues.has(name) && !this.directory.queues.has(parent)) await this.directory.reload();
      if (!this.directory.queues.has(name) && !this.directory.queues.has(parent)) {
        throw new LindenError('NOT_FOUND', `${doesNotExist('queue', name)}: there is no queue "${parent}" whose dead letters it would hold`, { name });
      }
      // Created by this request, like any queue: its settings are the first; unbounded unless given (as DurableCore's).
      const first = this.directory.queues.has(name) ? settings : { ...settings, maxMessages: settings.maxMessages ?? Number.MAX_SAFE_INTEGER, maxBytes: settings.maxBytes ?? Number.MAX_SAFE_INTEGER };
      return await this.directory.declare(name, null, first, true);
    } catch (err) {
      throw unavailable(err);
    }
  }

  async remove(name: string): Promise<{ dropped: number; detached: number }> {
    let dropped: number;
    try {
      dropped = await this.directory.remove(name);
    } catch (err) {
      throw unavailable(err);
    }
    return { dropped, detached: this.detachQueue(name) };
  }

  /** A durable `sub`: declares the queue if needed, then attaches the connection as a consumer on this node. */
  async attach(conn: Connection, sid: number, name: string, pattern: string, settings: QueueSettings, mayConfigure: boolean, stillWanted: () => boolean): Promise<void> {
    await this.declare(name, pattern, settings, mayConfigure);
    if (!stillWanted()) return;
    let entry = this.active.get(name);
    if (!entry) {
      const queue = new StreamQueue(name, this, openRedis(this.target, `linden:${this.node}:read`, 'blocking'));
      entry = { queue, sweep: new StreamSweep(queue, this, this.redis) };
      this.active.set(name, entry);
    }
    this.attached.add(conn, sid, entry.queue, entry.queue.attach(conn, sid));
  }

  detach(conn: Connection, sid: number): void {
    const queue = this.attached.detach(conn, sid);
    if (queue) this.idle(queue);
  }

  detachAll(conn: Connection): void {
    for (const queue of this.attached.detachAll(conn)) this.idle(queue);
  }

  /**
   * A persistent publish: routed here by the directory, stored by one script in every matching
   * queue's stream with the mid's dedupe key (stream-scripts.ts PUBLISH), and, with `wait` in
   * the URL, confirmed by that many replicas. `watched`: a publisher here waits for delivery or
   * processing; bind() its watch once this resolves.
   */
  async publish(topic: string, mid: string, fromPublisher: boolean, payload: Payload, ttl: number | undefined, hdr: Headers | undefined, watched: boolean): Promise<ClusterPublish> {
    const now = Date.now();
    const message: StreamMessage = {
      topic, mid, data: Buffer.from(payload.packedData()), hdr, publishedAt: now, expiresAt: ttl === undefined ? Infinity : now + ttl, origin: watched ? this.node : '',
    };
    const opened: string[] = [];
    try {
      for (let attempt = 0; ; attempt++) {
        const queues = this.directory.match(topic);
        const streams = this.streams.match(topic);
        for (const q of watched ? queues : []) {
          if (opened.includes(q.name)) continue;
          this.watches.open(q.name, mid);
          opened.push(q.name);
        }
        const reply = (await PUBLISH.run(this.redis, [
          QUEUES_VERSION, midKey(mid), STREAMS_VERSION, ...queues.map((q) => streamKey(q.name)), ...streams.flatMap((s) => { const k = streamKeys(s.name); return [k.data, k.meta]; }),
        ], [
          this.directory.version, fromPublisher ? '1' : '0', this.options.dedupeWindowMs, ...entryArgs(message),
          this.streams.registry.version, queues.length, now, ...publishArgs(queues), ...streamPublishArgs(streams),
        ])) as string[];
        if (reply[0] === 'stale' && attempt < 5) {
          await Promise.all([this.directory.reload(), this.streams.registry.reload()]);
          continue;
        }
        if (reply[0] === 'full') {
          const q = queues[Number(reply[1]) - 1]!;
          throw new LindenError('QUEUE_FULL', `queue "${q.name}" is full (maxMessages ${q.config.maxMessages}, overflow reject); nothing was stored`, { queue: q.name });
        }
        if (reply[0] === 'sfull') {
          const s = streams[Number(reply[1]) - 1]!;
          throw new LindenError('STREAM_FULL', `stream "${s.name}" is full (discard ${s.config.discard}): ${reply[2]}; nothing was stored`, { stream: s.name });
        }
        if (reply[0] === 'dup') {
          this.stats.duplicates++;
          for (const name of opened) this.watches.close(name, mid);
          return { queues: [], duplicate: true };
        }
        if (reply[0] !== 'ok') throw new Error(`the queues kept changing while publishing (${reply[0]})`);
        for (const name of opened) if (!queues.some((q) => q.name === name)) this.watches.close(name, mid);
        await this.replicated();
        this.stats.published++;
        return { queues: queues.map((q) => q.name), duplicate: false };
      }
    } catch (err) {
      for (const name of opened) this.watches.close(name, mid);
      throw unavailable(err);
    }
  }

  /**
   * Carries an event from the node of the consumer to `node`, the publisher's, which passes it to
   * its receiptEvent(): set by joinCluster to the bus (a frame on that node's channel). Unset
   * (the bus stopped), a publisher on another node times out and names the queue in `missing`.
   */
  forwardReceipt: ((node: string, queue: string, mid: string, e: ReceiptEvent) => void) | undefined;

  /** An event forwarded from another node (forwardReceipt) for a publisher of this one. */
  receiptEvent(queue: string, mid: string, e: ReceiptEvent): void {
    this.watches.event(queue, mid, e);
  }

  /** The publisher's watch for one queue of a publish that resolved (publish()'s `watched`). */
  bind(queue: string, mid: string, watch: MessageWatch): void {
    this.watches.bind(queue, mid, watch);
  }

  /**
   * Starts no more deliveries here and resolves once none is in flight here. What is not in
   * flight stays in Redis, for the other brokers and for the next start of this one.
   */
  quiesce(): Promise<void> {
    this.paused = true;
    return new Promise((resolve) => {
      this.whenIdle = resolve;
      this.inFlightEnded();
    });
  }

  // ---- StreamQueueHost ----
  inFlightEnded(): void {
    if (!this.whenIdle) return;
    for (const { queue } of this.active.values()) if (queue.inFlight.size > 0) return;
    this.whenIdle();
    this.whenIdle = undefined;
  }

  deadLetter(queue: string, id: string, message: StreamMessage): void {
    const def = this.directory.queues.get(queue);
    if (!def) return; // deleted meanwhile, with its stream
    const dlq = `${queue}.dlq`;
    const record: QueueDefinition = { name: dlq, pattern: null, config: { ...def.config, maxMessages: Number.MAX_SAFE_INTEGER, maxBytes: Number.MAX_SAFE_INTEGER }, createdAt: Date.now() };
    DEAD_LETTER.run(this.redis, [streamKey(queue), streamKey(dlq), QUEUES_HASH, QUEUES_VERSION], [id, dlq, JSON.stringify(record), QUEUES_CHANNEL]).then(
      (moved) => {
        if (moved !== 1) return;
        this.stats.deadLettered++;
        this.event(queue, message, { kind: 'rejected', reason: 'dead-lettered' });
      },
      (err: unknown) => this.failed(err, 'dead-letter'), // still pending: the next claim tries again
    );
  }

  event(queue: string, message: StreamMessage, e: ReceiptEvent): void {
    if (!message.origin) return;
    if (message.origin === this.node) this.watches.event(queue, message.mid, e);
    else this.forwardReceipt?.(message.origin, queue, message.mid, e);
  }

  failed(err: unknown, doing: string): void {
    if (this.down) return;
    this.down = this.redis.status !== 'ready';
    this.log.warn({ err: String(err).slice(0, 200), doing, node: this.node }, this.down ? 'Redis unreachable: persistent publishes and durable subscribes get STORE_UNAVAILABLE until it is back' : 'Redis refused a queue operation');
  }

  // ---- internals ----
  private async replicated(): Promise<void> {
    const { replicas, waitTimeoutMs } = this.target;
    if (replicas === 0) return;
    const confirmed = await this.redis.wait(replicas, waitTimeoutMs);
    if (confirmed < replicas) {
      throw new LindenError('STORE_UNAVAILABLE', `stored, but ${confirmed} of the ${replicas} replicas asked for confirmed it within ${waitTimeoutMs} ms; a retry with the same mid is deduplicated`, { redis: `WAIT ${confirmed}/${replicas}` });
    }
  }

  private definitionChanged(name: string, def: QueueDefinition | undefined): void {
    if (def) return; // settings are read from the directory at each use
    this.detachQueue(name);
  }

  /** The queue was deleted (here or on another node): its consumers here are told and detached. */
  private detachQueue(name: string): number {
    const entry = this.active.get(name);
    if (!entry) return 0;
    const consumers = entry.queue.end();
    for (const c of consumers) {
      c.conn.sendError(new LindenError('NOT_FOUND', `queue "${name}" was deleted`, { name, sid: c.sid }));
      this.attached.forget(c.conn, c.sid);
      c.conn.subs.delete(c.sid);
    }
    this.idle(entry.queue);
    return consumers.length;
  }

  /** A queue without consumers here stops reading and sweeping on this node. */
  private idle(queue: StreamQueue): void {
    if (queue.consumers.length > 0) return;
    const entry = this.active.get(queue.name);
    if (entry?.queue !== queue) return;
    this.active.delete(queue.name);
    entry.sweep.stop();
    void queue.stop();
  }
}
