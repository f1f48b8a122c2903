import type { Logger } from 'pino';
import { LindenError } from '../../../protocol/errors.js';
import type { Headers, StreamCreateFrame, StreamStart } from '../../../protocol/frames.js';
import { LeaseHeap } from '../../../protocol/lease-heap.js';
import { assertPattern } from '../../../protocol/topics.js';
import { doesNotExist } from '../../../protocol/names.js';
import type { Connection } from '../../connection.js';
import { AfterCommit } from '../../store/after-commit.js';
import type { Store, StoreWrite } from '../../store/store.js';
import { deleteRange } from '../durable/range-delete.js';
import { QueueRoutes } from '../durable/queue-routes.js';
import { Stream, TRIM_PIECE } from './stream.js';
import { StreamReader } from './stream-reader.js';
import { readerMoved, streamDeleted } from './stream-delivery.js';
import { ReadersByConnection } from './readers-by-connection.js';
import {
  DEFINITIONS_PREFIX, countersKey, streamConfig, definitionKey, entriesPrefix, readerKey, readersPrefix,
  type StreamConfig, type StreamCounters, type StreamEntry, type StreamRecord,
} from './stream-records.js';
import { streamInfo, type StreamInfo } from './stream-info.js';

export const STREAM_DEFAULTS: StreamConfig = { maxAge: 0, maxMessages: Number.MAX_SAFE_INTEGER, maxBytes: Number.MAX_SAFE_INTEGER, discard: 'old' };
/** Most streams a broker keeps: each costs a definition and a route. */
export const MAX_STREAMS = 10_000;

const NO_STREAMS: Stream[] = [];

/**
 * Replayable streams on one broker (issue 17, README "Replayable streams"): their definitions,
 * which streams a topic reaches, appending persistent messages as DurableCore stores them (in the
 * same write, so the publisher's receipt waits for both), readers, retention and its sweep.
 */
export class StreamCore {
  readonly streams = new Map<string, Stream>();
  private readonly routes = new QueueRoutes<Stream>();
  private readonly readers = new ReadersByConnection<StreamReader>();
  /** Streams being deleted (their messages go in pieces): a namesake waits for the end. */
  private readonly deleting = new Map<string, Promise<void>>();
  /** maxAge: one timer for every stream, at the time its oldest message ages out (DESIGN.md §5 "Time"). */
  private readonly sweep = new LeaseHeap<Stream>((s) => this.sweepStream(s));
  private readonly settle = new AfterCommit<[Stream, StreamEntry]>(
    ([s, e]) => s.settled(e),
    ([s, e]) => s.unstored(e),
  );

  constructor(private readonly store: Store, private readonly log: Logger) {}

  get size(): number {
    return this.streams.size;
  }

  async recover(): Promise<{ streams: number }> {
    for (const [, value] of await this.store.scan(DEFINITIONS_PREFIX)) {
      const r = value as StreamRecord;
      if (r.deleting) {
        this.deleting.set(r.name, this.deleteStored(r.name));
        continue;
      }
      const stream = new Stream(r.name, r.pattern, r.config, r.createdAt, this.store, this.store.get(countersKey(r.name)) as StreamCounters | undefined);
      for (const [key, pos] of await this.store.scan(readersPrefix(r.name))) stream.positions.set(key[2] as string, (pos as { pos: number }).pos);
      this.install(stream);
      this.armSweep(stream, Date.now());
    }
    return { streams: this.streams.size };
  }

  /** Creates a stream, or changes the limits of the one of that name (its pattern cannot change). */
  create(f: Omit<StreamCreateFrame, 't' | 'id'>): Promise<void> | undefined {
    assertPattern(f.pattern);
    if (this.deleting.has(f.name)) throw new LindenError('STREAM_CONFLICT', `stream "${f.name}" is being deleted; create it again once that is done`, { name: f.name });
    const existing = this.streams.get(f.name);
    if (existing && existing.pattern !== f.pattern) {
      throw new LindenError('STREAM_CONFLICT', `stream "${f.name}" exists with pattern "${existing.pattern}", not "${f.pattern}"`, { name: f.name, pattern: existing.pattern });
    }
    const config = streamConfig(existing?.config ?? STREAM_DEFAULTS, f);
    const writes: StoreWrite[] = [];
    let stream = existing;
    if (!stream) {
      if (this.streams.size >= MAX_STREAMS) throw new LindenError('STREAM_CONFLICT', `the broker keeps at most ${MAX_STREAMS} streams`, { limit: MAX_STREAMS });
      stream = new Stream(f.name, f.pattern, config, Date.now(), this.store);
      this.install(stream);
      writes.push(stream.counters());
    } else {
      stream.config = config;
      // Tighter limits apply now, not at the next append.
      const now = Date.now();
      stream.trimAged(now, writes, Number.MAX_SAFE_INTEGER);
      stream.trimToLimits(writes);
      writes.push(stream.counters());
      this.armSweep(stream, now);
    }
    const record: StreamRecord = { name: stream.name, pattern: stream.pattern, config, createdAt: stream.createdAt };
    writes.push({ key: definitionKey(stream.name), value: record });
    return this.store.write(writes);
  }

  /** Deletes a stream, its messages and its readers' positions; resolves once all of it is gone from the store. */
  remove(name: string): Promise<void> {
    const stream = this.get(name);
    for (const reader of [...stream.readers]) this.end(reader, streamDeleted(name, reader.sid));
    this.streams.delete(name);
    this.routes.remove(stream);
    const record: StreamRecord = { name, pattern: stream.pattern, config: stream.config, createdAt: stream.createdAt, deleting: true };
    const marked = this.store.write([{ key: definitionKey(name), value: record }]) ?? Promise.resolve();
    const done = marked.then(() => this.deleteStored(name));
    this.deleting.set(name, done);
    return done;
  }

  get(name: string): Stream {
    const stream = this.streams.get(name);
    if (!stream) throw new LindenError('NOT_FOUND', doesNotExist('stream', name), { name });
    return stream;
  }

  info(name: string): StreamInfo {
    return streamInfo(this.get(name));
  }

  list(): StreamInfo[] {
    return [...this.streams.values()].map(streamInfo);
  }

  /** The streams a topic reaches; nothing to do when there are none. */
  route(topic: string): Stream[] {
    return this.streams.size === 0 ? NO_STREAMS : this.routes.match(topic);
  }

  /** STREAM_FULL from the first stream with discard 'new' that cannot take the message: checked before anything is stored. */
  check(streams: readonly Stream[], bytes: number, now: number): void {
    for (const s of streams) s.check(bytes, now);
  }

  /** Appends a checked message to each stream; its writes join `writes` (the publish's one transaction). */
  append(streams: readonly Stream[], topic: string, mid: string, data: Uint8Array, hdr: Headers | undefined, now: number, writes: StoreWrite[]): StreamEntry[] {
    return streams.map((s) => s.append(topic, mid, data, hdr, now, writes));
  }

  /** The appends' write was issued: live readers get the messages now, catching-up ones read them in turn. */
  appended(streams: readonly Stream[], entries: readonly StreamEntry[], durable: Promise<void> | undefined): void {
    for (let i = 0; i < streams.length; i++) {
      const s = streams[i]!;
      const e = entries[i]!;
      if (durable) this.settle.add(durable, [s, e]);
      else s.settled(e);
      if (!s.sweepArmed) this.armSweep(s, e.time);
      if (s.live.size > 0) for (const reader of [...s.live]) reader.offer(e);
    }
  }

  /**
   * A `sub` with `stream`: a reader from `start`; a named reader from its stored position when it
   * has one (then `start` is not used), taking over from an earlier attachment of that name.
   */
  attach(conn: Connection, sid: number, name: string, pattern: string, start: StreamStart | undefined, readerName: string | undefined, ackWait: number): StreamReader {
    const stream = this.get(name);
    let from: number | undefined = readerName === undefined ? undefined : stream.positions.get(readerName);
    if (from === undefined) from = this.startSeq(stream, start ?? 'first');
    if (readerName !== undefined) {
      const earlier = stream.attachedNames.get(readerName);
      if (earlier) this.end(earlier, readerMoved(name, readerName, earlier.sid));
    }
    const reader = new StreamReader(conn, sid, stream, pattern, readerName, from, this, ackWait);
    if (readerName !== undefined) stream.attachedNames.set(readerName, reader);
    this.readers.add(conn, sid, reader);
    return reader;
  }

  /** First store the new reader's position (a named one), then it reads: `ok` follows the stored write. */
  started(reader: StreamReader): Promise<void> | undefined {
    let written: Promise<void> | undefined;
    if (reader.name !== undefined && !reader.stream.positions.has(reader.name)) {
      reader.stream.positions.set(reader.name, reader.pos);
      written = this.store.write([reader.stream.positionWrite(reader.name, reader.pos)]);
    }
    reader.start();
    return written;
  }

  detach(conn: Connection, sid: number): void {
    const reader = this.readers.take(conn, sid);
    if (reader) this.release(reader);
  }

  detachAll(conn: Connection): void {
    for (const reader of this.readers.takeAll(conn)) this.release(reader);
  }

  // ---- ReaderHost ----
  positionMoved(stream: Stream, reader: string, pos: number): void {
    if (this.streams.get(stream.name) !== stream) return;
    stream.positions.set(reader, pos);
    this.store.write([stream.positionWrite(reader, pos)])?.catch((err: unknown) => this.log.error({ err }, 'stream reader position not stored'));
  }

  stop(): void {
    this.sweep.stop();
  }

  // ---- internals ----
  /** Ends a reader's subscription with `err`: its client is told, and it reads no more. */
  private end(reader: StreamReader, err: LindenError): void {
    reader.conn.sendError(err);
    reader.conn.subs.delete(reader.sid);
    this.detach(reader.conn, reader.sid);
  }

  private release(reader: StreamReader): void {
    reader.stop();
    if (reader.name !== undefined && reader.stream.attachedNames.get(reader.name) === reader) reader.stream.attachedNames.delete(reader.name);
  }

  private startSeq(stream: Stream, start: StreamStart): number {
    if (start === 'first') return stream.first;
    if (start === 'new') return stream.next;
    if (start === 'last') return stream.count > 0 ? stream.next - 1 : stream.next;
    if ('seq' in start) return Math.max(start.seq, stream.first);
    return stream.seqAtTime(start.time);
  }

  private install(stream: Stream): void {
    this.streams.set(stream.name, stream);
    this.routes.add(stream);
  }

  /** Its next sweep at the time its oldest message passes maxAge. */
  private armSweep(stream: Stream, now: number): void {
    if (stream.config.maxAge <= 0 || stream.sweepArmed) return;
    const oldest = stream.oldestTime();
    if (oldest === undefined) return;
    stream.sweepArmed = true;
    this.sweep.add(stream, Math.max(oldest + stream.config.maxAge, now));
  }

  private sweepStream(stream: Stream): void {
    stream.sweepArmed = false;
    if (this.streams.get(stream.name) !== stream) return;
    const writes: StoreWrite[] = [];
    const now = Date.now();
    const more = stream.trimAged(now, writes, TRIM_PIECE);
    if (writes.length > 0) {
      writes.push(stream.counters());
      this.store.write(writes)?.catch((err: unknown) => this.log.error({ err }, 'stream trim not stored'));
    }
    if (more) {
      stream.sweepArmed = true;
      this.sweep.add(stream, now);
    } else {
      this.armSweep(stream, now);
    }
  }

  /** The messages in pieces, then the definition, counters and positions. */
  private async deleteStored(name: string): Promise<void> {
    try {
      await deleteRange(this.store, entriesPrefix(name), 0, Number.MAX_SAFE_INTEGER, () => ({ writes: [] }));
      const positions = (await this.store.scan(readersPrefix(name))).map(([key]) => ({ key: readerKey(name, key[2] as string) }));
      await this.store.write([...positions, { key: countersKey(name) }, { key: definitionKey(name) }]);
    } finally {
      this.deleting.delete(name);
    }
  }
}
