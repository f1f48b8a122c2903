import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { LindenError } from '../../../protocol/errors.js';
import type { Headers, StreamCreateFrame, StreamStart } from '../../../protocol/frames.js';
import { assertPattern } from '../../../protocol/topics.js';
import { doesNotExist } from '../../../protocol/names.js';
import type { Connection } from '../../connection.js';
import { MAX_STREAMS, STREAM_DEFAULTS } from '../../pubsub/streams/stream-core.js';
import type { ReaderInfo, StreamInfo } from '../../pubsub/streams/stream-info.js';
import { readerMoved, streamDeleted } from '../../pubsub/streams/stream-delivery.js';
import { ReadersByConnection } from '../../pubsub/streams/readers-by-connection.js';
import { byReaderName, readerInfo } from '../../pubsub/streams/stream-info.js';
import { streamConfig, type StreamConfig, type StreamEntry, type StreamRecord } from '../../pubsub/streams/stream-records.js';
import { disconnectRedis, openRedis, unavailable, type RedisTarget } from '../redis-target.js';
import { ClusterStreamReader, type ClusterReaderHost } from './cluster-stream-reader.js';
import { READERS_CHANNEL, STREAMS_CHANNEL, STREAMS_HASH, STREAMS_SWEEP_LOCK, STREAMS_VERSION, streamKeys } from './stream-keys.js';
import { StreamRegistry } from './stream-registry.js';
import { CREATE_STREAM, DELETE_STREAM, MOVE_READER, START_READER, STREAM_INFO, TRIM_AGED } from './stream-scripts.js';
import { StreamTail } from './stream-tail.js';

/** How often one node of the cluster trims the streams with a maxAge (readers skip aged messages meanwhile). */
const SWEEP_EVERY_MS = 1_000;
/** Aged messages one sweep drops per stream at most; the rest on the next. */
const SWEEP_PIECE = 1_000;

/**
 * Replayable streams in cluster mode (issue 17, protocol.md §9.11): the same frames as StreamCore
 * on one broker, with each stream a Redis Stream (stream-keys.ts) so that any node creates,
 * deletes and reads any stream, a persistent publish on any node appends to it (in the durable
 * queues' PUBLISH script, before its submission receipt), and named readers' positions survive
 * reconnecting to another node.
 */
export class ClusterStreams implements ClusterReaderHost {
  readonly registry: StreamRegistry;
  private readonly subscriber: Redis;
  private readonly tails = new Map<string, StreamTail>();
  /** This node's readers, by stream. */
  private readonly byStream = new Map<string, Set<ClusterStreamReader>>();
  private readonly readers = new ReadersByConnection<ClusterStreamReader>();
  /** Named readers attached on this node, by stream then name. */
  private readonly named = new Map<string, Map<string, ClusterStreamReader>>();
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private attachments = 0;
  private warnedAt = 0;

  constructor(private readonly node: string, private readonly target: RedisTarget, private readonly redis: Redis, private readonly log: Logger) {
    this.registry = new StreamRegistry(redis, log, (name, record, before) => this.recordChanged(name, record, before));
    this.subscriber = openRedis(target, `linden:${node}:streams`, 'subscriber');
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === READERS_CHANNEL) this.readerAttached(message);
      else this.registry.reloadInBackground();
    });
    this.redis.on('ready', () => this.registry.reloadInBackground());
  }

  async start(): Promise<void> {
    this.subscriber.subscribe(STREAMS_CHANNEL, READERS_CHANNEL).then(() => {
      if (this.redis.status === 'ready') this.registry.reloadInBackground();
    }, (err: unknown) => this.failed(err, 'subscribe'));
    if (this.redis.status === 'ready') await this.registry.reload().catch((err: unknown) => this.failed(err, 'load streams'));
    this.sweepTimer = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    this.sweepTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const set of this.byStream.values()) for (const r of set) r.stop();
    this.byStream.clear();
    const tails = [...this.tails.values()].map((t) => t.stop());
    this.tails.clear();
    await Promise.all([...tails, disconnectRedis(this.subscriber)]);
  }

  /** The streams a topic reaches (the publish script checks `registry.version`). */
  match(topic: string): StreamRecord[] {
    return this.registry.match(topic);
  }

  // ---- the frames ----
  /** `screate`: creates a stream or changes its limits (its pattern cannot change). */
  async create(f: Omit<StreamCreateFrame, 't' | 'id'>): Promise<void> {
    assertPattern(f.pattern);
    try {
      let record: StreamRecord = { name: f.name, pattern: f.pattern, config: streamConfig(STREAM_DEFAULTS, f), createdAt: Date.now() };
      let reply = await this.runCreate(record, 'create');
      if (reply[0] === 'exists') {
        const existing = JSON.parse(reply[1]!) as StreamRecord;
        record = { ...existing, config: streamConfig(existing.config, f) };
        reply = await this.runCreate(record, 'put');
      }
      if (reply[0] === 'conflict') {
        const existing = JSON.parse(reply[1]!) as StreamRecord;
        throw new LindenError('STREAM_CONFLICT', `stream "${f.name}" exists with pattern "${existing.pattern}", not "${f.pattern}"`, { name: f.name, pattern: existing.pattern });
      }
      if (reply[0] === 'toomany') throw new LindenError('STREAM_CONFLICT', `the cluster keeps at most ${MAX_STREAMS} streams`, { limit: MAX_STREAMS });
      this.registry.install(record);
    } catch (err) {
      throw unavailable(err);
    }
  }

  /** `sdelete`: the stream, its messages and its readers' positions, in one step. */
  async remove(name: string): Promise<void> {
    const keys = streamKeys(name);
    let done: number;
    try {
      done = Number(await DELETE_STREAM.run(this.redis, [STREAMS_HASH, STREAMS_VERSION, keys.data, keys.meta, keys.readers], [name, STREAMS_CHANNEL]));
    } catch (err) {
      throw unavailable(err);
    }
    if (done < 0) throw new LindenError('NOT_FOUND', doesNotExist('stream', name), { name });
    const before = this.registry.streams.get(name);
    this.registry.uninstall(name);
    this.recordChanged(name, undefined, before);
  }

  /** Read from Redis in one step: the limits another node set a moment ago included. */
  async info(name: string): Promise<StreamInfo> {
    const keys = streamKeys(name);
    let reply: (number | string)[] | number;
    try {
      reply = (await STREAM_INFO.run(this.redis, [keys.data, keys.meta, keys.readers, STREAMS_HASH], [name])) as (number | string)[] | number;
    } catch (err) {
      throw unavailable(err);
    }
    if (!Array.isArray(reply)) throw new LindenError('NOT_FOUND', doesNotExist('stream', name), { name });
    const record = JSON.parse(String(reply[0])) as StreamRecord;
    const [first, next, count, bytes, firstTime] = reply.slice(1, 6).map(Number) as [number, number, number, number, number];
    const readers: ReaderInfo[] = [];
    const attached = this.named.get(name);
    for (let i = 6; i + 1 < reply.length; i += 2) {
      const reader = String(reply[i]);
      readers.push(readerInfo(reader, Number(reply[i + 1]), first, next, attached?.get(reader)));
    }
    readers.sort(byReaderName);
    let subscribers = 0;
    for (const r of this.byStream.get(name) ?? []) if (r.name === undefined) subscribers++;
    return {
      name, pattern: record.pattern, config: { ...record.config }, createdAt: record.createdAt,
      firstSeq: first, lastSeq: next - 1, messages: count, bytes, firstTime: firstTime < 0 ? null : firstTime, readers, subscribers,
    };
  }

  async list(): Promise<StreamInfo[]> {
    await this.registry.reload().catch((err: unknown) => { throw unavailable(err); });
    const all: StreamInfo[] = [];
    for (const name of [...this.registry.streams.keys()].sort()) {
      try {
        all.push(await this.info(name));
      } catch (err) {
        if (!(err instanceof LindenError && err.code === 'NOT_FOUND')) throw err; // deleted meanwhile
      }
    }
    return all;
  }

  /**
   * A `sub` with `stream`: a reader from `start`, or a named reader from its position in Redis
   * (stored now when new, before the `ok`), taking over an earlier attachment of that name on
   * this node. `stillWanted`: false once the subscription went while Redis answered.
   */
  async attach(conn: Connection, sid: number, name: string, pattern: string, start: StreamStart | undefined, readerName: string | undefined, ackWait: number, stillWanted: () => boolean): Promise<void> {
    await this.registry.find(name).catch((err: unknown) => { throw unavailable(err); });
    const keys = streamKeys(name);
    const s = start ?? 'first';
    const [mode, value] = typeof s === 'string' ? [s, ''] : 'seq' in s ? ['seq', String(s.seq)] : ['time', String(s.time)];
    let pos: number;
    try {
      pos = Number(await START_READER.run(this.redis, [keys.data, keys.meta, keys.readers], [mode, value, readerName ?? '']));
    } catch (err) {
      throw unavailable(err);
    }
    if (pos < 0) throw new LindenError('NOT_FOUND', doesNotExist('stream', name), { name });
    if (!stillWanted()) return;
    if (readerName !== undefined) {
      const earlier = this.named.get(name)?.get(readerName);
      if (earlier) this.end(earlier, readerMoved(name, readerName, earlier.sid));
    }
    const token = readerName === undefined ? '' : `${this.node}:${++this.attachments}`;
    const reader = new ClusterStreamReader(conn, sid, name, pattern, readerName, pos, this, ackWait, token);
    this.readers.add(conn, sid, reader);
    let set = this.byStream.get(name);
    if (!set) this.byStream.set(name, (set = new Set()));
    set.add(reader);
    if (readerName !== undefined) {
      let names = this.named.get(name);
      if (!names) this.named.set(name, (names = new Map()));
      names.set(readerName, reader);
      // An attachment of this reader on another node ends there (readerAttached()).
      this.redis.publish(READERS_CHANNEL, JSON.stringify({ stream: name, reader: readerName, token })).catch((err: unknown) => this.failed(err, 'announce stream reader'));
    }
    reader.start();
  }

  detach(conn: Connection, sid: number): void {
    const reader = this.readers.take(conn, sid);
    if (reader) this.release(reader);
  }

  detachAll(conn: Connection): void {
    for (const reader of this.readers.takeAll(conn)) this.release(reader);
  }

  // ---- ClusterReaderHost ----
  async read(stream: string, from: number, limit: number): Promise<{ entries: StreamEntry[]; next: number }> {
    const keys = streamKeys(stream);
    // One transaction: `next` is the stream's end as of this range, not of a later append.
    const replies = await this.redis.multi().xrangeBuffer(keys.data, `${from}-0`, '+', 'COUNT', limit).hget(keys.meta, 'next').exec();
    if (!replies) throw new Error('stream read aborted');
    for (const [err] of replies) if (err) throw err;
    const range = replies[0]![1] as [Buffer, Buffer[]][];
    return { entries: range.map(([id, fields]) => entryOf(id, fields)), next: Number(replies[1]![1] ?? '1') };
  }

  wait(stream: string, seq: number, wake: () => void): void {
    let tail = this.tails.get(stream);
    if (!tail) {
      tail = new StreamTail(streamKeys(stream), this.redis, openRedis(this.target, `linden:${this.node}:tail`, 'blocking'));
      this.tails.set(stream, tail);
    }
    tail.wait(seq, wake);
  }

  forget(stream: string, wake: () => void): void {
    this.tails.get(stream)?.forget(wake);
  }

  config(stream: string): StreamConfig | undefined {
    return this.registry.streams.get(stream)?.config;
  }

  positionMoved(stream: string, reader: string, pos: number): void {
    const keys = streamKeys(stream);
    MOVE_READER.run(this.redis, [keys.meta, keys.readers], [reader, pos]).catch((err: unknown) => this.failed(err, 'stream reader position'));
  }

  failed(err: unknown, doing: string): void {
    // Readers retry twice a second while Redis is away: one warning in ten seconds says enough.
    const now = Date.now();
    if (now - this.warnedAt < 10_000) return;
    this.warnedAt = now;
    this.log.warn({ err: String(err).slice(0, 200), doing, node: this.node }, 'Redis refused a stream operation');
  }

  // ---- internals ----
  private runCreate(record: StreamRecord, mode: 'create' | 'put'): Promise<string[]> {
    const keys = streamKeys(record.name);
    const { maxMessages, maxBytes, maxAge } = record.config;
    return CREATE_STREAM.run(this.redis, [STREAMS_HASH, STREAMS_VERSION, keys.data, keys.meta], [
      record.name, record.pattern, JSON.stringify(record), mode, MAX_STREAMS, STREAMS_CHANNEL, maxMessages, maxBytes, maxAge, Date.now(),
    ]) as Promise<string[]>;
  }

  /** Ends a reader's subscription with `err`: its client is told, and it reads no more. */
  private end(reader: ClusterStreamReader, err: LindenError): void {
    reader.conn.sendError(err);
    reader.conn.subs.delete(reader.sid);
    this.detach(reader.conn, reader.sid);
  }

  private release(reader: ClusterStreamReader): void {
    reader.stop();
    const set = this.byStream.get(reader.stream);
    set?.delete(reader);
    if (reader.name !== undefined) {
      const names = this.named.get(reader.stream);
      if (names?.get(reader.name) === reader) names.delete(reader.name);
      if (names?.size === 0) this.named.delete(reader.stream);
    }
    if (set && set.size === 0) {
      this.byStream.delete(reader.stream);
      const tail = this.tails.get(reader.stream);
      this.tails.delete(reader.stream);
      void tail?.stop();
    }
  }

  /**
   * A named reader attached somewhere: an earlier attachment of it here is taken over. Every node
   * hears the announcements in one order (Redis's), so an announcement heard after this node's
   * own for its attachment is the newer one; one heard before is older and changes nothing.
   */
  private readerAttached(message: string): void {
    let m: { stream: string; reader: string; token: string };
    try {
      m = JSON.parse(message) as typeof m;
    } catch {
      return;
    }
    const earlier = this.named.get(m.stream)?.get(m.reader);
    if (!earlier) return;
    if (earlier.token === m.token) {
      earlier.announced = true;
      return;
    }
    if (!earlier.announced) return;
    this.end(earlier, readerMoved(m.stream, m.reader, earlier.sid));
  }

  /** A stream deleted (or deleted and created again) on any node: its readers here are told and detached. */
  private recordChanged(name: string, record: StreamRecord | undefined, before: StreamRecord | undefined): void {
    if (record && (!before || before.createdAt === record.createdAt)) return;
    const set = this.byStream.get(name);
    if (!set || (record && !before)) return;
    for (const reader of [...set]) this.end(reader, streamDeleted(name, reader.sid));
  }

  /** maxAge: one node a turn (the lock) trims every stream that has one. */
  private async sweep(): Promise<void> {
    const aged = [...this.registry.streams.values()].filter((r) => r.config.maxAge > 0);
    if (aged.length === 0 || this.redis.status !== 'ready') return;
    try {
      if ((await this.redis.set(STREAMS_SWEEP_LOCK, this.node, 'PX', SWEEP_EVERY_MS - 100, 'NX')) !== 'OK') return;
      const now = Date.now();
      for (const r of aged) {
        const keys = streamKeys(r.name);
        await TRIM_AGED.run(this.redis, [keys.data, keys.meta], [r.config.maxMessages, r.config.maxBytes, r.config.maxAge, now, SWEEP_PIECE]);
      }
    } catch (err) {
      this.failed(err, 'stream sweep');
    }
  }
}

/** An entry of XRANGE with Buffer replies: id `<seq>-0`, fields t m d h p. */
function entryOf(id: Buffer, fields: Buffer[]): StreamEntry {
  const byName = new Map<string, Buffer>();
  for (let i = 0; i + 1 < fields.length; i += 2) byName.set(fields[i]!.toString(), fields[i + 1]!);
  const text = (k: string) => byName.get(k)?.toString() ?? '';
  const hdr = text('h');
  const e: StreamEntry = { seq: Number(id.toString().split('-')[0]), topic: text('t'), mid: text('m'), data: byName.get('d') ?? Buffer.alloc(0), time: Number(text('p')) };
  if (hdr) (e as { hdr?: Headers }).hdr = JSON.parse(hdr) as Headers;
  return e;
}
