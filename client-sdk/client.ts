import { CODECS, Parts, type Codec } from '../protocol/codec.js';
import { CLOSE_CODES, LindenError } from '../protocol/errors.js';
import { fragmentation } from '../protocol/fragmentation.js';
import type { Extensions, Limits, WelcomeFrame } from '../protocol/frames.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';
import { ReconnectPolicy } from './backoff.js';
import { ConnectionState } from './connection-state.js';
import { Heartbeat } from './heartbeat.js';
import { InboundRouter } from './inbound.js';
import type { MessageOwner } from './message.js';
import { ADMIN_FIELDS, QUEUE_SETTINGS, checkTlsOptions, credentialsOf, definedOnly, type AdminRequest, type ConnectOptions, type PublishOptions, type QueueSettings } from './options.js';
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
import { openSocket, whenDrained } from './transport.js';

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
 * The application's handle on a broker, and the owner of its connection's lifecycle: the
 * handshake, reconnection with back-off, leaving a draining broker, closing. What it writes goes
 * through `Outbound`; what the broker sends is routed by `InboundRouter`.
 */
export class Client implements MessageOwner {
  readonly codec: Codec;
  private readonly conn = new ConnectionState();
  private readonly reconnect: ReconnectPolicy;
  private readonly pending = new PendingCalls();
  private readonly subs: ClientSubscriptions;
  private readonly feed = new StatusFeed();
  private handshake: { resolve(): void; reject(err: Error): void } | undefined;
  private readonly heartbeat = new Heartbeat();
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** Why the socket failed, if it said (ECONNREFUSED, HTTP 400...): named in handshake errors. */
  private lastSocketError: string | undefined;
  private readonly spaces: ClientSpaces;
  private readonly pipeline: ClientPipeline;
  private readonly outbound: Outbound;
  private readonly inbound: InboundRouter;
  private readonly servers: ServerList;
  /** The first connection is being tried, broker after broker: a failure is start()'s to handle. */
  private starting = false;

  constructor(servers: string | readonly string[], private readonly options: ConnectOptions) {
    this.servers = new ServerList(servers);
    this.reconnect = new ReconnectPolicy(options.reconnect, this.servers.size);
    this.codec = CODECS[options.codec ?? 'msgpack'];
    if (!this.codec) throw new LindenError('INVALID_OPTIONS', `unknown codec "${options.codec}"; use "msgpack" or "json"`);
    checkTlsOptions(options.tls);
    const conn = this.conn;
    this.pipeline = new ClientPipeline(options.interceptors ?? [fragmentation()], {
      side: 'client', codec: this.codec, get connectionId() { return conn.connectionId; },
    }, options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
    const outbound = this.outbound = new Outbound(conn, this.codec, this.pipeline, this.pending, this.feed, options.maxBufferedBytes);
    this.subs = new ClientSubscriptions({
      isLive: () => conn.live !== 0,
      call: (frame, timeout, first) => outbound.call(frame, timeout, first),
      flush: () => outbound.flushNow(),
      reportDrop: (pattern) => this.feed.emit({ type: 'slow-consumer', dropped: 1, where: 'client', pattern }),
    });
    this.spaces = new ClientSpaces({
      codec: this.codec,
      isLive: () => conn.live !== 0,
      call: (frame, timeout, first) => outbound.call(frame, timeout, first),
      cast: (frame) => outbound.enqueue(frame, true),
    });
    const client = this;
    this.inbound = new InboundRouter(conn, this.codec, this.pipeline, {
      owner: this, subs: this.subs, spaces: this.spaces, pending: this.pending, outbound, heartbeat: this.heartbeat, feed: this.feed,
      control: {
        get url() { return client.url; },
        welcomed: (frame, epoch) => this.onWelcome(frame, epoch),
        refuseHandshake: (err) => {
          if (!this.handshake) return false;
          this.handshakeFailed(err);
          return true;
        },
        abandon: (code, reason) => this.abandon(code, reason),
      },
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
    return this.servers.current;
  }

  /** @internal The first connection: each broker in turn until one completes the handshake. */
  async start(): Promise<void> {
    this.starting = true;
    try {
      for (let tried = 1; ; tried++) {
        try {
          return await this.open();
        } catch (err) {
          if (tried >= this.servers.size) {
            this.shutdown(err as LindenError);
            throw err;
          }
          this.servers.advance();
        }
      }
    } finally {
      this.starting = false;
    }
  }

  /** Opens a socket and performs the handshake. */
  private open(): Promise<void> {
    const conn = this.conn;
    const epoch = ++conn.epoch;
    const done = new Promise<void>((resolve, reject) => { this.handshake = { resolve, reject }; });
    const timer = setTimeout(() => {
      this.handshakeFailed(new LindenError('CONNECTION_REFUSED', `no welcome from ${this.url} within the connect timeout`));
      conn.socket?.close(1000);
    }, this.options.connectTimeoutMs ?? 10_000);
    const chain = this.pipeline.connected({
      toSocket: (piece) => { if (conn.live === epoch) conn.socket?.send(piece instanceof Parts ? piece.join() : piece); },
      toApp: (message) => this.inbound.onInbound(message, epoch),
      fail: (error) => this.feed.emit({ type: 'error', error }),
      pendingBytes: () => (conn.socket?.bufferedAmount ?? 0) + this.outbound.queuedBytes,
      peerMaxFrameBytes: () => conn.limits?.maxFrameBytes ?? 0,
      whenDrained: (fn) => { if (conn.socket) whenDrained(conn.socket, fn); },
    });
    conn.chain = chain;
    const ext = this.pipeline.announced;
    openSocket(this.url, [this.codec.subprotocol], {
      open: () => void this.hello(epoch, ext),
      message: (data, isBinary) => this.inbound.onFrame(data, isBinary, epoch, chain),
      close: (code, reason) => this.onClose(code, reason, epoch),
      error: (err) => { this.lastSocketError = err.message; },
    }, this.options.tls).then((socket) => { if (epoch === conn.epoch) conn.socket = socket; }, (err: Error) => this.handshakeFailed(new LindenError('CONNECTION_REFUSED', err.message)));
    return done.finally(() => clearTimeout(timer));
  }

  private async hello(epoch: number, ext: Extensions | undefined): Promise<void> {
    let auth: Record<string, string> | undefined;
    try {
      auth = await credentialsOf(this.options);
    } catch (err) {
      this.handshakeFailed(new LindenError('CONNECTION_REFUSED', `no credentials: ${(err as Error).message}`));
      this.conn.socket?.close(1000);
      return;
    }
    if (epoch !== this.conn.epoch) return;
    this.outbound.sendNow({
      t: 'hello', id: 0, v: PROTOCOL_VERSION, ...(this.options.name ? { name: this.options.name } : {}), ...(ext ? { ext } : {}), ...(auth ? { auth } : {}),
    });
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
    if (this.conn.phase === 'closed') return;
    this.outbound.flushNow();
    this.shutdown(new LindenError('CLOSED'));
    this.conn.socket?.close(1000, 'client closed');
  }

  // ---- MessageOwner ----
  settle(_tag: number, epoch: number, frame: { t: 'ack' | 'nack' | 'working'; tag: number }): void {
    this.inbound.settle(epoch, frame);
  }

  // ---- connection lifecycle ----
  private onWelcome(frame: WelcomeFrame, epoch: number): void {
    const conn = this.conn;
    conn.live = epoch;
    conn.phase = 'open';
    this.reconnect.connected();
    conn.connectionId = frame.connectionId;
    conn.limits = frame.limits;
    conn.drainingEpoch = 0;
    conn.unsettled = 0;
    this.outbound.connected(frame.limits.maxFrameBytes, this.pipeline.negotiated(frame.ext));
    this.heartbeat.start(frame.heartbeatMs, () => this.outbound.ping(), () => {
      this.abandon(CLOSE_CODES.HEARTBEAT_TIMEOUT.code, 'no answer to pings');
    });
    this.subs.restore();
    this.spaces.restore();
    this.outbound.scheduleFlush();
    this.handshake?.resolve();
    this.handshake = undefined;
    this.feed.emit({ type: 'connected', connectionId: frame.connectionId, url: this.url });
  }

  /**
   * Gives up on the current socket at once rather than waiting for a close handshake a silent
   * broker may never answer. Its close event and any late frame then belong to an old epoch and
   * are ignored, so they cannot run the close path a second time and open a second socket.
   */
  private abandon(code: number, reason: string): void {
    const socket = this.conn.socket;
    this.onClose(code, reason, this.conn.epoch);
    this.conn.epoch++;
    socket?.close(code, reason);
  }

  private onClose(code: number, reason: string, epoch: number): void {
    const conn = this.conn;
    if (epoch !== conn.epoch) return;
    const wasLive = conn.live === epoch;
    conn.live = 0;
    conn.socket = undefined;
    this.pipeline.disconnected();
    conn.chain = undefined;
    this.heartbeat.stop();
    const why = reason || this.lastSocketError;
    this.lastSocketError = undefined;
    this.handshakeFailed(new LindenError('CONNECTION_REFUSED', `connection closed during handshake (${code}${why ? ': ' + why : ''})`, { code, reason: why ?? '' }));
    if (conn.phase === 'closed' || this.starting) return;
    const lost = new LindenError('DISCONNECTED', `connection lost (${code}${reason ? ': ' + reason : ''})`, { code, reason });
    this.pending.failSent(lost, epoch);
    this.outbound.connectionLost();
    conn.drainingEpoch = 0;
    conn.unsettled = 0;
    if (wasLive) this.feed.emit({ type: 'disconnected', code, reason });
    const next = this.reconnect.next(code);
    if (next === 'never') this.shutdown(lost);
    else if (next === 'gave up') this.shutdown(new LindenError('DISCONNECTED', `gave up after ${this.reconnect.attempted} reconnection attempts`));
    else {
      conn.phase = 'reconnecting';
      this.servers.advance();
      this.feed.emit({ type: 'reconnecting', attempt: next.attempt, delayMs: next.delayMs });
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = setTimeout(() => { this.open().catch(() => {}); }, next.delayMs);
    }
  }

  private handshakeFailed(err: LindenError): void {
    const handshake = this.handshake;
    this.handshake = undefined;
    handshake?.reject(err);
  }

  private shutdown(err: LindenError): void {
    if (this.conn.phase === 'closed') return;
    this.conn.phase = 'closed';
    this.conn.live = 0;
    this.heartbeat.stop();
    clearTimeout(this.reconnectTimer);
    this.handshakeFailed(err);
    this.pending.failSent(err);
    this.subs.end(err);
    this.spaces.end(err);
    this.feed.emit({ type: 'closed' });
    this.feed.end();
  }

  private assertUsable(): void {
    if (this.conn.phase === 'closed') throw new LindenError('CLOSED');
  }
}
