import { CODECS, type Codec } from '../protocol/codec.js';
import { LindenError } from '../protocol/errors.js';
import { fragmentation } from '../protocol/fragmentation.js';
import type { Limits, MsgFrame } from '../protocol/frames.js';
import { Connection } from './connection.js';
import { ConnectionState } from './connection-state.js';
import type { MessageOwner } from './message.js';
import { ADMIN_FIELDS, QUEUE_SETTINGS, STREAM_SETTINGS, type StreamSettings, type StreamInfo, checkTlsOptions, checkWillOptions, definedOnly, type AdminRequest, type ConnectOptions, type PublishOptions, type QueueSettings } from './options.js';
import { Outbound } from './outbound.js';
import { PendingCalls } from './pending-calls.js';
import { ClientPipeline } from './pipeline.js';
import type { Receipt } from './receipt.js';
import { StatusFeed, type StatusEvent } from './status.js';
import type { Space, SpaceOptions } from './space.js';
import { ClientSpaces } from './spaces.js';
import type { Subscription, SubscribeOptions } from './subscription.js';
import { ClientSubscriptions } from './subscriptions.js';
import { ServerList } from './servers.js';

const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/**
 * Connects to a broker; resolves once the hello/welcome handshake is done. Given several URLs
 * (brokers of one deployment), it tries them in turn until one answers, and after a lost
 * connection or a broker's drain it moves on to the next.
 */
export async function connect(servers: string | readonly string[], options: ConnectOptions = {}): Promise<Client> {
  const client = new Client(servers, options);
  await client.start();
  return client;
}

/**
 * The application's handle on a broker. Its parts: `Connection` opens, keeps and reopens the
 * socket and routes what arrives (through `InboundRouter`); `Outbound` writes; subscriptions
 * and spaces keep what is restored after a reconnect; `ConnectionState` is what they all know
 * of the current connection.
 */
export class Client implements MessageOwner {
  readonly codec: Codec;
  private readonly conn = new ConnectionState();
  private readonly pending = new PendingCalls();
  private readonly feed = new StatusFeed();
  private readonly subs: ClientSubscriptions;
  private readonly spaces: ClientSpaces;
  private readonly outbound: Outbound;
  private readonly connection: Connection;

  constructor(servers: string | readonly string[], options: ConnectOptions) {
    const serverList = new ServerList(servers);
    const codec = this.codec = CODECS[options.codec ?? 'msgpack'];
    if (!codec) throw new LindenError('INVALID_OPTIONS', `unknown codec "${options.codec}"; use "msgpack" or "json"`);
    checkTlsOptions(options.tls);
    checkWillOptions(options.will);
    const conn = this.conn;
    const pipeline = new ClientPipeline(options.interceptors ?? [fragmentation()], {
      side: 'client', codec, get connectionId() { return conn.connectionId; },
    }, options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
    const outbound = this.outbound = new Outbound(conn, codec, pipeline, this.pending, this.feed, options.maxBufferedBytes);
    this.subs = new ClientSubscriptions({
      isLive: () => conn.live !== 0,
      call: (frame, timeout, first) => outbound.call(frame, timeout, first),
      flush: () => outbound.flushNow(),
      reportDrop: (pattern) => this.feed.emit({ type: 'slow-consumer', dropped: 1, where: 'client', pattern }),
    });
    this.spaces = new ClientSpaces({
      codec,
      isLive: () => conn.live !== 0,
      call: (frame, timeout, first) => outbound.call(frame, timeout, first),
      cast: (frame) => outbound.enqueue(frame, true),
    });
    this.connection = new Connection(serverList, options, conn, {
      owner: this, codec, pipeline, outbound, pending: this.pending, subs: this.subs, spaces: this.spaces, feed: this.feed,
    });
  }

  /** Connection generation: it grows with each socket opened. */
  get epoch(): number {
    return this.conn.epoch;
  }

  /** The broker's name for the connection, from its welcome. */
  get connectionId(): string {
    return this.conn.connectionId;
  }

  /** The broker's limits, from its welcome. */
  get limits(): Limits | undefined {
    return this.conn.limits;
  }

  /** The broker's URL: the one connected to, or, while reconnecting, the one tried next. */
  get url(): string {
    return this.connection.url;
  }

  /** @internal The first connection: each broker in turn until one completes the handshake. */
  start(): Promise<void> {
    return this.connection.start();
  }

  /** A named tuple space (on the broker while it holds something, protocol.md §10.1; `persistent` keeps its tuples in the store). */
  space(name: string, options?: SpaceOptions): Space {
    this.assertUsable();
    return this.spaces.space(name, options);
  }

  status(): AsyncIterableIterator<StatusEvent> {
    return this.feed.iterator();
  }

  subscribe<T = unknown>(pattern: string, options: SubscribeOptions<T> = {}): Subscription<T> {
    this.assertUsable();
    return this.subs.subscribe(pattern, options);
  }

  publish(topic: string, data: unknown, options?: PublishOptions & { ack?: 'none' }): Promise<void>;
  publish(topic: string, data: unknown, options: PublishOptions): Promise<Receipt>;
  publish(topic: string, data: unknown, options: PublishOptions = {}): Promise<Receipt | void> {
    return this.outbound.publish(topic, data, options, false);
  }

  /** Publishes and resolves with the first responder's reply (msg.reply(data)). */
  async request<T = unknown>(topic: string, data: unknown, options: { timeout?: number } = {}): Promise<T> {
    const receipt = await this.outbound.publish(topic, data, { ack: 'processing', timeout: options.timeout }, true);
    if (receipt.processed > 0) return receipt.data as T;
    if (receipt.timedOut) throw new LindenError('TIMEOUT', `no reply to request on "${topic}" within ${options.timeout ?? 'the broker default'} ms`);
    if (receipt.failed > 0) throw new LindenError('REJECTED', `every responder rejected the request on "${topic}"`);
    throw new LindenError('DISCONNECTED', `every responder to "${topic}" disconnected before replying`);
  }

  /**
   * Declares a durable subscription (a queue) ahead of any consumer, or changes the settings
   * given of an existing one: the only call that changes them (a consumer's `subscribe` cannot).
   */
  async createQueue(name: string, pattern: string, settings: QueueSettings = {}): Promise<void> {
    this.assertUsable();
    await this.outbound.call({ t: 'qcreate', name, pattern, ...definedOnly(settings, QUEUE_SETTINGS) }, undefined);
  }

  /** Deletes a durable subscription and every message it holds. */
  async deleteQueue(name: string): Promise<void> {
    this.assertUsable();
    await this.outbound.call({ t: 'qdelete', name }, undefined);
  }

  /**
   * Cancels a scheduled publish or out (README "Scheduled delivery") by the `id` of its receipt
   * or lease. Rejects with NOT_SCHEDULED when nothing with that id is pending (unknown, cancelled
   * or already delivered); only its scheduler, or a user allowed to publish on its topic (write
   * to its space), may cancel it.
   */
  async cancelScheduled(id: string): Promise<void> {
    this.assertUsable();
    await this.outbound.call({ t: 'unschedule', sched: id }, undefined);
  }

  /**
   * Creates a replayable stream keeping every persistent message published on `pattern`, or
   * changes the limits given of an existing one (its pattern cannot change: STREAM_CONFLICT).
   */
  async createStream(name: string, pattern: string, settings: StreamSettings = {}): Promise<void> {
    this.assertUsable();
    await this.outbound.call({ t: 'screate', name, pattern, ...definedOnly(settings, STREAM_SETTINGS) }, undefined);
  }

  /** Deletes a stream, its messages and its readers' positions; its readers' subscriptions end with NOT_FOUND. */
  async deleteStream(name: string): Promise<void> {
    this.assertUsable();
    await this.outbound.call({ t: 'sdelete', name }, undefined);
  }

  /** A stream's first and last seq, messages, bytes and readers with their lag (admin op `stream`). */
  async streamInfo(name: string): Promise<StreamInfo> {
    return (await this.admin({ op: 'stream', name })) as StreamInfo;
  }

  /** An admin operation (protocol.md §17): resolves with its report's result, undefined for `kick`. */
  async admin(request: AdminRequest, timeout?: number): Promise<unknown> {
    this.assertUsable();
    const answer = await this.outbound.call({ t: 'admin', ...definedOnly(request, ADMIN_FIELDS) }, timeout);
    return answer.t === 'report' ? answer.result : undefined;
  }

  /** Resolves once the broker has handled everything sent before it (a ping round trip). */
  async flush(): Promise<void> {
    await this.outbound.call({ t: 'ping' }, undefined);
  }

  async close(): Promise<void> {
    this.connection.close();
  }

  // ---- MessageOwner ----
  settle(delivery: MsgFrame, epoch: number, frame: { t: 'ack' | 'nack' | 'working'; tag: number }): void {
    this.connection.inbound.settle(delivery, epoch, frame);
  }

  private assertUsable(): void {
    if (this.conn.phase === 'closed') throw new LindenError('CLOSED');
  }
}
