import { CODECS, Parts, type Codec } from '../protocol/codec.js';
import { CLOSE_CODES, LindenError, isErrorCode } from '../protocol/errors.js';
import { fragmentation } from '../protocol/fragmentation.js';
import { someHeaders } from '../protocol/headers.js';
import { packStr, utf8Length } from '../protocol/frame-writer.js';
import type { AckLevel, BrokerFrame, ErrFrame, Extensions, Limits, MsgFrame, ReceiptFrame, WelcomeFrame } from '../protocol/frames.js';
import type { MessageChain } from '../protocol/message-chain.js';
import { assertTopic } from '../protocol/topics.js';
import { refusedWhileDraining } from '../protocol/draining.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';
import { ReconnectPolicy } from './backoff.js';
import { Heartbeat } from './heartbeat.js';
import { Message, type MessageOwner } from './message.js';
import { ADMIN_FIELDS, QUEUE_SETTINGS, checkTlsOptions, credentialsOf, definedOnly, type AdminRequest, type ConnectOptions, type PublishOptions, type QueueSettings } from './options.js';
import { Outbox } from './outbox.js';
import { PendingCalls } from './pending-calls.js';
import { ClientPipeline } from './pipeline.js';
import { toReceipt, type Receipt } from './receipt.js';
import { StatusFeed, type StatusEvent } from './status.js';
import type { Space, SpaceOptions } from './space.js';
import { ClientSpaces } from './spaces.js';
import type { Subscription, SubscribeOptions } from './subscription.js';
import { ClientSubscriptions } from './subscriptions.js';
import { ServerList } from './servers.js';
import { openSocket, whenDrained, type Socket } from './transport.js';
import { afterTurn } from './after-turn.js';

const RESOLVED = Promise.resolve();
/** Bytes of a fast-path publish besides its payload and topic, at most. */
const FAST_PATH_FIELDS = 512;
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

export class Client implements MessageOwner {
  readonly codec: Codec;
  epoch = 0;
  connectionId = '';
  limits: Limits | undefined;
  private socket: Socket | undefined;
  /** Epoch of the socket that completed its handshake and is still open; 0 when none. */
  private live = 0;
  private state: 'connecting' | 'open' | 'reconnecting' | 'closed' = 'connecting';
  private readonly reconnect: ReconnectPolicy;
  private nextId = 1;
  private readonly pending = new PendingCalls();
  private readonly subs: ClientSubscriptions;
  private outbox!: Outbox;
  private rcvTags: number[] = [];
  private flushScheduled = false;
  private lateFlushScheduled = false;
  private readonly feed = new StatusFeed();
  private handshake: { resolve(): void; reject(err: Error): void } | undefined;
  private readonly heartbeat = new Heartbeat();
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** Why the socket failed, if it said (ECONNREFUSED, HTTP 400...): named in handshake errors. */
  private lastSocketError: string | undefined;
  /** Topics already validated, with their MessagePack encoding. */
  private readonly topicCache = new Map<string, Uint8Array>();
  private readonly spaces: ClientSpaces;
  private readonly pipeline: ClientPipeline;
  /** The live connection's message-level interceptors, when any. */
  private chain: MessageChain | undefined;
  private readonly servers: ServerList;
  /** The first connection is being tried, broker after broker: a failure is start()'s to handle. */
  private starting = false;
  /** Epoch of a live connection whose broker drains; 0 when none. */
  private drainingEpoch = 0;
  /** Deliveries of the live connection whose publisher or queue waits for an ack or nack not sent yet. */
  private unsettled = 0;

  constructor(servers: string | readonly string[], private readonly options: ConnectOptions) {
    this.servers = new ServerList(servers);
    this.reconnect = new ReconnectPolicy(options.reconnect, this.servers.size);
    this.codec = CODECS[options.codec ?? 'msgpack'];
    if (!this.codec) throw new LindenError('INVALID_OPTIONS', `unknown codec "${options.codec}"; use "msgpack" or "json"`);
    checkTlsOptions(options.tls);
    const client = this;
    this.pipeline = new ClientPipeline(options.interceptors ?? [fragmentation()], {
      side: 'client', codec: this.codec, get connectionId() { return client.connectionId; },
    }, options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
    this.subs = new ClientSubscriptions({
      isLive: () => this.live !== 0,
      call: (frame, timeout, first) => this.call(frame, timeout, first),
      flush: () => this.flushNow(),
      reportDrop: (pattern) => this.feed.emit({ type: 'slow-consumer', dropped: 1, where: 'client', pattern }),
    });
    this.spaces = new ClientSpaces({
      codec: this.codec,
      isLive: () => this.live !== 0,
      call: (frame, timeout, first) => this.call(frame, timeout, first),
      cast: (frame) => this.enqueue(frame, true),
    });
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
    const epoch = ++this.epoch;
    const done = new Promise<void>((resolve, reject) => { this.handshake = { resolve, reject }; });
    const timer = setTimeout(() => {
      this.handshakeFailed(new LindenError('CONNECTION_REFUSED', `no welcome from ${this.url} within the connect timeout`));
      this.socket?.close(1000);
    }, this.options.connectTimeoutMs ?? 10_000);
    const chain = this.pipeline.connected({
      toSocket: (piece) => { if (this.live === epoch) this.socket?.send(piece instanceof Parts ? piece.join() : piece); },
      toApp: (message) => this.onInbound(message, epoch),
      fail: (error) => this.feed.emit({ type: 'error', error }),
      pendingBytes: () => (this.socket?.bufferedAmount ?? 0) + (this.outbox?.bytes ?? 0),
      peerMaxFrameBytes: () => this.limits?.maxFrameBytes ?? 0,
      whenDrained: (fn) => { if (this.socket) whenDrained(this.socket, fn); },
    });
    this.chain = chain;
    const ext = this.pipeline.announced;
    openSocket(this.url, [this.codec.subprotocol], {
      open: () => void this.hello(epoch, ext),
      message: (data, isBinary) => this.onFrame(data, isBinary, epoch, chain),
      close: (code, reason) => this.onClose(code, reason, epoch),
      error: (err) => { this.lastSocketError = err.message; },
    }, this.options.tls).then((socket) => { if (epoch === this.epoch) this.socket = socket; }, (err: Error) => this.handshakeFailed(new LindenError('CONNECTION_REFUSED', err.message)));
    return done.finally(() => clearTimeout(timer));
  }

  private async hello(epoch: number, ext: Extensions | undefined): Promise<void> {
    let auth: Record<string, string> | undefined;
    try {
      auth = await credentialsOf(this.options);
    } catch (err) {
      this.handshakeFailed(new LindenError('CONNECTION_REFUSED', `no credentials: ${(err as Error).message}`));
      this.socket?.close(1000);
      return;
    }
    if (epoch !== this.epoch) return;
    this.sendNow({
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
    return this.pub(topic, data, options, false);
  }

  /** Publishes and resolves with the first responder's reply (msg.reply(data)). */
  async request<T = unknown>(topic: string, data: unknown, options: { timeout?: number } = {}): Promise<T> {
    const receipt = await this.pub(topic, data, { ack: 'processing', timeout: options.timeout }, true);
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
    await this.call({ t: 'qcreate', name, pattern, ...definedOnly(settings, QUEUE_SETTINGS) }, undefined);
  }

  /** Deletes a durable subscription and every message it holds. */
  async deleteQueue(name: string): Promise<void> {
    this.assertUsable();
    await this.call({ t: 'qdelete', name }, undefined);
  }

  /** An admin operation (protocol.md §17): resolves with its report's result, undefined for `kick`. */
  async admin(request: AdminRequest, timeout?: number): Promise<unknown> {
    this.assertUsable();
    const answer = await this.call({ t: 'admin', ...definedOnly(request, ADMIN_FIELDS) }, timeout);
    return answer.t === 'report' ? answer.result : undefined;
  }

  /** Resolves once the broker has handled everything sent before it (a ping round trip). */
  async flush(): Promise<void> {
    await this.call({ t: 'ping' }, undefined);
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.flushNow();
    this.shutdown(new LindenError('CLOSED'));
    this.socket?.close(1000, 'client closed');
  }

  // ---- MessageOwner ----
  settle(tag: number, epoch: number, frame: { t: 'ack' | 'nack' | 'working'; tag: number }): void {
    if (epoch !== this.live) return; // the broker already counted that connection's deliveries as lost
    if (frame.t === 'working') {
      this.enqueue(frame, false);
      return;
    }
    this.unsettled--;
    this.enqueue(frame, false, undefined, () => this.leaveWhenDone());
  }

  // ---- internals ----
  private pub(topic: string, data: unknown, options: PublishOptions, reply: boolean): Promise<any> {
    if (this.state === 'closed') return Promise.reject(new LindenError('CLOSED'));
    try {
      let packedTopic = this.topicCache.get(topic);
      if (!packedTopic) {
        assertTopic(topic);
        if (this.topicCache.size > 10_000) this.topicCache.clear();
        packedTopic = packStr(topic);
        this.topicCache.set(topic, packedTopic);
      }
      const ack: AckLevel = options.ack ?? 'none';
      const wire = this.codec.packData(data);
      const limit = this.limits?.maxMessageBytes;
      const size = this.codec.name === 'msgpack' ? (wire as Uint8Array).length : utf8Length(JSON.stringify(wire));
      if (limit !== undefined && size > limit) {
        throw new LindenError('MESSAGE_TOO_LARGE', `payload of ${size} bytes exceeds maxMessageBytes (${limit})`, { bytes: size, limit });
      }
      const mid = options.msgId ?? options.mid;
      const persistent = options.mode === 'persistent';
      // The fast path writes no headers and passes no request-level interceptor (trace context
      // stamps headers): a publish with headers, or with hooks to see it, takes the general one.
      const hdr = someHeaders(options.headers);
      if (ack === 'none' && mid === undefined && !persistent && hdr === undefined && this.codec.name === 'msgpack' && this.live
        && !this.drainingEpoch && this.pipeline.outbound.isEmpty && this.outbox.largeFrom > size + FAST_PATH_FIELDS) {
        this.outbox.publishMsgpack(packedTopic, wire as Uint8Array);
        this.scheduleFlush();
        return RESOLVED;
      }
      const frame: Record<string, unknown> = { t: 'pub', topic, data: wire };
      if (mid !== undefined) frame.mid = mid;
      if (persistent) frame.mode = 'persistent';
      if (options.ttl !== undefined) frame.ttl = options.ttl;
      if (hdr !== undefined) frame.hdr = hdr;
      if (ack === 'none') {
        if (this.pipeline.outbound.isEmpty) {
          this.enqueue(frame, true);
          return RESOLVED;
        }
        return new Promise<void>((resolve, reject) => this.enqueue(frame, true, undefined, resolve, reject));
      }
      frame.ack = ack;
      if (options.timeout !== undefined) frame.timeout = options.timeout;
      if (reply) frame.reply = true;
      return this.call(frame, options.timeout).then((f) => toReceipt(f as ReceiptFrame, this.codec));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Sends a request and resolves with the broker's answer naming its id; `first` jumps the queue. */
  private call(frame: Record<string, unknown>, timeout: number | undefined, first = false): Promise<BrokerFrame> {
    const id = this.nextId++;
    frame.id = id;
    const blocking = (frame.t === 'in' || frame.t === 'rd') && frame.wait !== false && frame.limit === undefined;
    const answer = this.pending.add(id, timeout, this.limits?.maxTimeoutMs, blocking);
    try {
      if (first) {
        this.pipeline.outbound.run(frame, (f) => {
          this.outbox.addFirst(this.codec.encode(f), id);
          this.scheduleFlush();
        }, (err) => this.pending.settle(id)?.reject(err as Error));
      } else {
        this.enqueue(frame, true, id);
      }
    } catch (err) {
      this.pending.settle(id)?.reject(err as Error);
    }
    return answer;
  }

  /**
   * Queues a frame after the outbound request-level interceptors; `sent`/`rejected` learn the
   * outcome when a caller waits for no reply (a request's rejection fails its pending call).
   */
  private enqueue(frame: object, portable: boolean, id?: number, sent?: () => void, rejected?: (err: Error) => void): void {
    if (this.state === 'closed') throw new LindenError('CLOSED');
    if (!this.live && !portable) return;
    if (this.pipeline.outbound.isEmpty) {
      this.enqueueNow(frame, portable, id);
      sent?.();
      return;
    }
    this.pipeline.outbound.run(frame, (f) => {
      this.enqueueNow(f, portable, id);
      sent?.();
    }, (err) => {
      if (id !== undefined) this.pending.settle(id)?.reject(err as Error);
      else if (rejected) rejected(err as Error);
      else this.feed.emit({ type: 'error', error: err as LindenError });
    });
  }

  private enqueueNow(frame: object, portable: boolean, id?: number): void {
    const piece = this.codec.encode(frame);
    const refusable = refusedWhileDraining(frame);
    const held = refusable && this.drainingEpoch !== 0;
    if ((!this.live || held) && this.outbox.bytes + piece.length > (this.options.maxBufferedBytes ?? 8 * 1024 * 1024)) {
      throw new LindenError('BUFFER_FULL', `send buffer full (${this.outbox.bytes} bytes queued while disconnected)`);
    }
    if (refusable && id !== undefined) this.pending.keep(id, piece);
    if (held) {
      // For the next broker, in the order made: a message without id goes before the next request's.
      this.outbox.hold(piece, id, id ?? this.nextId - 0.5);
      return;
    }
    this.outbox.add(piece, portable, id);
    if (portable) this.scheduleFlush();
    else this.scheduleLateFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || !this.live) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flushNow());
  }

  /**
   * Acks, nacks and pings leave at the end of the turn, not of the microtask: a consumer
   * acknowledging each message of a frame as it iterates sends them all in one frame, where a
   * flush per microtask wrote one frame, and one syscall, per ack (issue 21: drain rate).
   */
  private scheduleLateFlush(): void {
    if (this.flushScheduled || this.lateFlushScheduled || !this.live) return;
    this.lateFlushScheduled = true;
    afterTurn(() => {
      this.lateFlushScheduled = false;
      if (!this.flushScheduled) this.flushNow();
    });
  }

  private flushNow(): void {
    this.flushScheduled = false;
    const socket = this.socket;
    if (!this.live || !socket) return;
    if (this.rcvTags.length > 0) {
      this.outbox.add(this.codec.encode({ t: 'rcv', tags: this.rcvTags }), false);
      this.rcvTags = [];
    }
    if (this.outbox.isEmpty) return;
    const chain = this.chain;
    const ids = this.outbox.drain((f) => socket.send(f), (piece) => (chain ? chain.send(piece) : socket.send(piece)));
    this.pending.sent(ids, this.live);
  }

  private sendNow(frame: object): void {
    const piece = this.codec.encode(frame);
    this.socket?.send(this.codec.name === 'msgpack' ? Uint8Array.of(0x91, ...(piece as Uint8Array)) : `[${piece as string}]`);
  }

  private onFrame(data: Uint8Array | string, isBinary: boolean, epoch: number, chain: MessageChain | undefined): void {
    if (epoch !== this.epoch) return; // a socket given up on
    let messages: unknown[];
    try {
      messages = this.codec.decode(data, isBinary);
    } catch (err) {
      this.feed.emit({ type: 'error', error: err as LindenError });
      return;
    }
    this.heartbeat.seen();
    for (const m of messages) {
      if (chain) chain.receive(m);
      else this.onInbound(m, epoch);
    }
  }

  /** A whole message from the socket, through the inbound request-level interceptors. */
  private onInbound(message: unknown, epoch: number): void {
    const hooks = this.pipeline.inbound;
    if (hooks.isEmpty || (message as { t?: unknown }).t === 'welcome') this.route(message as BrokerFrame, epoch);
    else hooks.run(message as BrokerFrame, (f) => this.route(f, epoch), (error) => {
      this.feed.emit({ type: 'error', error: error as LindenError });
      // A refused delivery is nacked, so its publisher or queue learns now rather than at a timeout.
      const tag = (message as MsgFrame).t === 'msg' ? (message as MsgFrame).tag : undefined;
      const nack = { t: 'nack' as const, tag: tag!, reason: String((error as Error).message).slice(0, 1024) };
      // Never counted as awaiting an ack (it did not reach the application), so not through settle().
      if (tag !== undefined && epoch === this.live) this.enqueue(nack, false);
    });
  }

  private route(frame: BrokerFrame, epoch: number): void {
    // The rest of a frame whose socket was given up on meanwhile (the client left a draining broker).
    if (epoch !== this.epoch) return;
    if (frame.t === 'msg') this.onMessage(frame, epoch);
    else if (frame.t === 'welcome') this.onWelcome(frame, epoch);
    else if (frame.t === 'err') this.onError(frame);
    else if (frame.t === 'event') this.spaces.event(frame);
    else if (frame.t === 'warn') this.feed.emit({ type: 'slow-consumer', dropped: frame.dropped ?? 0, where: 'broker' });
    else if (frame.t === 'drain') this.onDrain(frame.ms, epoch);
    else if ('re' in frame) {
      this.pending.settle(frame.re)?.resolve(frame);
      this.leaveWhenDone();
    }
  }

  private onMessage(frame: MsgFrame, epoch: number): void {
    if (frame.tag !== undefined) {
      this.rcvTags.push(frame.tag);
      this.scheduleFlush();
      if (frame.ack === 'processing') this.unsettled++;
    }
    this.subs.deliver(frame.sid, new Message(frame, this, epoch));
  }

  private onWelcome(frame: WelcomeFrame, epoch: number): void {
    this.live = epoch;
    this.state = 'open';
    this.reconnect.connected();
    this.connectionId = frame.connectionId;
    this.limits = frame.limits;
    this.drainingEpoch = 0;
    this.unsettled = 0;
    this.outbox ??= new Outbox(this.codec, frame.limits.maxFrameBytes);
    this.outbox.largeFrom = this.pipeline.negotiated(frame.ext);
    this.heartbeat.start(frame.heartbeatMs, () => this.enqueue({ t: 'ping', id: this.nextId++ }, false), () => {
      this.abandon(CLOSE_CODES.HEARTBEAT_TIMEOUT.code, 'no answer to pings');
    });
    this.subs.restore();
    this.spaces.restore();
    this.scheduleFlush();
    this.handshake?.resolve();
    this.handshake = undefined;
    this.feed.emit({ type: 'connected', connectionId: frame.connectionId, url: this.url });
  }

  /**
   * The broker drains (protocol.md §1.6): publishes and writes wait for the next broker from now
   * on; once the answers awaited here have come and every delivery waiting for an ack has it,
   * the client leaves for the next URL.
   */
  private onDrain(ms: number, epoch: number): void {
    if (epoch !== this.live || this.drainingEpoch === epoch) return;
    this.drainingEpoch = epoch;
    this.feed.emit({ type: 'draining', url: this.url, ms });
    this.leaveWhenDone();
  }

  /** While the broker drains: leaves once nothing is awaited on this connection. */
  private leaveWhenDone(): void {
    if (!this.drainingEpoch || this.drainingEpoch !== this.live) return;
    // What was queued before the drain began goes now; a publish among it comes back as DRAINING and waits.
    if (!this.outbox.isEmpty) this.flushNow();
    if (this.unsettled > 0 || this.pending.busy(this.live)) return;
    this.abandon(CLOSE_CODES.NORMAL.code, 'broker draining');
  }

  private onError(frame: ErrFrame): void {
    const err = new LindenError(isErrorCode(frame.code) ? frame.code : 'INTERNAL_ERROR', frame.message, frame.details);
    // Refused by a draining broker, so it had no effect there: it goes to the next one instead.
    const re = frame.re;
    const again = err.code === 'DRAINING' && re !== undefined ? this.pending.unsend(re) : undefined;
    if (again) {
      this.outbox.hold(again, re, re!);
      this.drainingEpoch ||= this.live;
      this.leaveWhenDone();
      return;
    }
    const entry = frame.re === undefined ? undefined : this.pending.settle(frame.re);
    const sid = frame.details?.sid;
    if (entry) entry.reject(err);
    else if (this.handshake && frame.re === 0) this.handshakeFailed(err);
    // A subscription the broker ended (its queue was deleted) is not restored on reconnect.
    else if (typeof sid !== 'number' || !this.subs.ended(sid, err)) this.feed.emit({ type: 'error', error: err });
    if (entry) this.leaveWhenDone();
  }

  /**
   * Gives up on the current socket at once rather than waiting for a close handshake a silent
   * broker may never answer. Its close event and any late frame then belong to an old epoch and
   * are ignored, so they cannot run the close path a second time and open a second socket.
   */
  private abandon(code: number, reason: string): void {
    const socket = this.socket;
    this.onClose(code, reason, this.epoch);
    this.epoch++;
    socket?.close(code, reason);
  }

  private onClose(code: number, reason: string, epoch: number): void {
    if (epoch !== this.epoch) return;
    const wasLive = this.live === epoch;
    this.live = 0;
    this.socket = undefined;
    this.pipeline.disconnected();
    this.chain = undefined;
    this.heartbeat.stop();
    const why = reason || this.lastSocketError;
    this.lastSocketError = undefined;
    this.handshakeFailed(new LindenError('CONNECTION_REFUSED', `connection closed during handshake (${code}${why ? ': ' + why : ''})`, { code, reason: why ?? '' }));
    if (this.state === 'closed' || this.starting) return;
    const lost = new LindenError('DISCONNECTED', `connection lost (${code}${reason ? ': ' + reason : ''})`, { code, reason });
    this.pending.failSent(lost, epoch);
    this.outbox?.dropConnectionBound();
    this.outbox?.release(); // what a draining broker was not given goes to the next one
    this.drainingEpoch = 0;
    this.unsettled = 0;
    this.rcvTags = [];
    if (wasLive) this.feed.emit({ type: 'disconnected', code, reason });
    const next = this.reconnect.next(code);
    if (next === 'never') this.shutdown(lost);
    else if (next === 'gave up') this.shutdown(new LindenError('DISCONNECTED', `gave up after ${this.reconnect.attempted} reconnection attempts`));
    else {
      this.state = 'reconnecting';
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
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.live = 0;
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
    if (this.state === 'closed') throw new LindenError('CLOSED');
  }
}
