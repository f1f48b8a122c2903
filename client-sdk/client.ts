import { CODECS, type Codec } from '../protocol/codec.js';
import { CLOSE_CODES, LindenError, isErrorCode } from '../protocol/errors.js';
import type { AckLevel, BrokerFrame, ErrFrame, Limits, MsgFrame, ReceiptFrame, WelcomeFrame } from '../protocol/frames.js';
import { assertPattern, assertTopic } from '../protocol/topics.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';
import { backoffDelay, type ReconnectOptions } from './backoff.js';
import { Message, type MessageOwner } from './message.js';
import { DURABLE_OPTIONS, QUEUE_SETTINGS, definedOnly, type ConnectOptions, type PublishOptions, type QueueSettings } from './options.js';
import { Outbox } from './outbox.js';
import { packStr, utf8Length } from '../protocol/frame-writer.js';
import { toReceipt, type Receipt } from './receipt.js';
import { StatusFeed, type StatusEvent } from './status.js';
import type { Space, SpaceOptions } from './space.js';
import { ClientSpaces } from './spaces.js';
import { Subscription, type SubscribeOptions } from './subscription.js';
import { openSocket, type Socket } from './transport.js';

interface Pending {
  resolve(frame: BrokerFrame): void;
  reject(err: Error): void;
  /** Epoch of the connection it was written on; 0 while still in the outbox. */
  sentEpoch: number;
  timer?: ReturnType<typeof setTimeout>;
}

const RESOLVED = Promise.resolve();
const FATAL_CLOSE_CODES: number[] = [CLOSE_CODES.UNSUPPORTED_SUBPROTOCOL.code, CLOSE_CODES.UNSUPPORTED_VERSION.code];
const TIMEOUT_GRACE_MS = 1_000;

/** Connects to a broker; resolves once the hello/welcome handshake is done. */
export async function connect(url: string, options: ConnectOptions = {}): Promise<Client> {
  const client = new Client(url, options);
  await client.open();
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
  private everConnected = false;
  private attempts = 0;
  private nextId = 1;
  private nextSid = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly subs = new Map<number, Subscription<any>>();
  private outbox!: Outbox;
  private rcvTags: number[] = [];
  private flushScheduled = false;
  private readonly feed = new StatusFeed();
  private handshake: { resolve(): void; reject(err: Error): void } | undefined;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private lastSeen = 0;
  /** Why the socket failed, if it said (ECONNREFUSED, HTTP 400...): named in handshake errors. */
  private lastSocketError: string | undefined;
  /** Topics already validated, with their MessagePack encoding. */
  private readonly topicCache = new Map<string, Uint8Array>();
  private readonly spaces: ClientSpaces;

  constructor(readonly url: string, private readonly options: ConnectOptions) {
    this.codec = CODECS[options.codec ?? 'msgpack'];
    if (!this.codec) throw new LindenError('INVALID_OPTIONS', `unknown codec "${options.codec}"; use "msgpack" or "json"`);
    this.spaces = new ClientSpaces({
      codec: this.codec,
      isLive: () => this.live !== 0,
      call: (frame, timeout, first) => this.call(frame, timeout, first),
      cast: (frame) => this.enqueue(frame, true),
    });
  }

  /** @internal Opens a socket and performs the handshake. */
  open(): Promise<void> {
    const epoch = ++this.epoch;
    const done = new Promise<void>((resolve, reject) => { this.handshake = { resolve, reject }; });
    const timer = setTimeout(() => {
      this.handshakeFailed(new LindenError('CONNECTION_REFUSED', `no welcome from ${this.url} within the connect timeout`));
      this.socket?.close(1000);
    }, this.options.connectTimeoutMs ?? 10_000);
    openSocket(this.url, [this.codec.subprotocol], {
      open: () => this.sendNow({ t: 'hello', id: 0, v: PROTOCOL_VERSION, ...(this.options.name ? { name: this.options.name } : {}) }),
      message: (data, isBinary) => this.onFrame(data, isBinary, epoch),
      close: (code, reason) => this.onClose(code, reason, epoch),
      error: (err) => { this.lastSocketError = err.message; },
    }).then((socket) => { if (epoch === this.epoch) this.socket = socket; }, (err: Error) => this.handshakeFailed(new LindenError('CONNECTION_REFUSED', err.message)));
    return done.finally(() => clearTimeout(timer));
  }

  /** A named tuple space (created on the broker on first use; `persistent` keeps its tuples in the store). */
  space(name: string, options?: SpaceOptions): Space {
    this.assertUsable();
    return this.spaces.space(name, options);
  }

  status(): AsyncIterableIterator<StatusEvent> {
    return this.feed.iterator();
  }

  subscribe<T = unknown>(pattern: string, options: SubscribeOptions<T> = {}): Subscription<T> {
    this.assertUsable();
    assertPattern(pattern);
    const sub = new Subscription<T>(this.nextSid++, pattern, options, {
      unsubscribe: (sid) => this.unsubscribe(sid),
      reportDrop: (sid, p) => this.feed.emit({ type: 'slow-consumer', dropped: 1, where: 'client', pattern: p }),
    });
    this.subs.set(sub.sid, sub);
    if (this.live) this.sendSub(sub);
    return sub;
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

  /** Declares a durable subscription (a queue) ahead of any consumer, or changes its settings. */
  async createQueue(name: string, pattern: string, settings: QueueSettings = {}): Promise<void> {
    this.assertUsable();
    await this.call({ t: 'qcreate', name, pattern, ...definedOnly(settings, QUEUE_SETTINGS) }, undefined);
  }

  /** Deletes a durable subscription and every message it holds. */
  async deleteQueue(name: string): Promise<void> {
    this.assertUsable();
    await this.call({ t: 'qdelete', name }, undefined);
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
    this.enqueue(frame, false);
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
      if (ack === 'none' && mid === undefined && !persistent && this.codec.name === 'msgpack' && this.live) {
        this.outbox.publishMsgpack(packedTopic, wire as Uint8Array);
        this.scheduleFlush();
        return RESOLVED;
      }
      const frame: Record<string, unknown> = { t: 'pub', topic, data: wire };
      if (mid !== undefined) frame.mid = mid;
      if (persistent) frame.mode = 'persistent';
      if (options.ttl !== undefined) frame.ttl = options.ttl;
      if (ack === 'none') {
        this.enqueue(frame, true);
        return RESOLVED;
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
    return new Promise<BrokerFrame>((resolve, reject) => {
      const entry: Pending = { resolve, reject, sentEpoch: 0 };
      if (timeout !== undefined) {
        entry.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new LindenError('TIMEOUT', `no answer from the broker within ${timeout} ms`));
          // The broker answers by its own maxTimeoutMs at the latest; beyond 2^31 ms setTimeout fires at once.
        }, Math.min(timeout, this.limits?.maxTimeoutMs ?? 2 ** 31 - 1 - TIMEOUT_GRACE_MS) + TIMEOUT_GRACE_MS);
      }
      this.pending.set(id, entry);
      try {
        if (first) {
          this.outbox.addFirst(this.codec.encode(frame), id);
          this.scheduleFlush();
        } else {
          this.enqueue(frame, true, id);
        }
      } catch (err) {
        this.settlePending(id);
        reject(err);
      }
    });
  }

  private enqueue(frame: object, portable: boolean, id?: number): void {
    if (this.state === 'closed') throw new LindenError('CLOSED');
    if (!this.live && !portable) return;
    const piece = this.codec.encode(frame);
    if (!this.live && this.outbox.bytes + piece.length > (this.options.maxBufferedBytes ?? 8 * 1024 * 1024)) {
      throw new LindenError('BUFFER_FULL', `send buffer full (${this.outbox.bytes} bytes queued while disconnected)`);
    }
    this.outbox.add(piece, portable, id);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || !this.live) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flushNow());
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
    const ids = this.outbox.drain((f) => socket.send(f));
    for (const id of ids) {
      const entry = this.pending.get(id);
      if (entry) entry.sentEpoch = this.live;
    }
  }

  private sendNow(frame: object): void {
    const piece = this.codec.encode(frame);
    this.socket?.send(this.codec.name === 'msgpack' ? Uint8Array.of(0x91, ...(piece as Uint8Array)) : `[${piece as string}]`);
  }

  /** `first` on reconnect: subscriptions are back before publishes buffered meanwhile go out. */
  private sendSub(sub: Subscription<any>, first = false): void {
    const frame: Record<string, unknown> = { t: 'sub', sid: sub.sid, pattern: sub.pattern };
    if (sub.options.group !== undefined) frame.group = sub.options.group;
    if (sub.options.durable !== undefined) Object.assign(frame, definedOnly(sub.options, DURABLE_OPTIONS));
    this.call(frame, undefined, first).then(() => sub.confirmed(), (err: LindenError) => {
      if (err.code === 'DISCONNECTED') return; // sent again after reconnecting
      this.subs.delete(sub.sid);
      sub.fail(err);
    });
  }

  private unsubscribe(sid: number): void {
    if (!this.subs.delete(sid) || !this.live) return;
    // Acks and nacks already queued go first: a durable queue would redeliver what an unsub overtook.
    this.flushNow();
    this.call({ t: 'unsub', sid }, undefined).catch(() => {}); // gone either way
  }

  private onFrame(data: Uint8Array | string, isBinary: boolean, epoch: number): void {
    let messages: unknown[];
    try {
      messages = this.codec.decode(data, isBinary);
    } catch (err) {
      this.feed.emit({ type: 'error', error: err as LindenError });
      return;
    }
    this.lastSeen = Date.now();
    for (const m of messages) {
      const frame = m as BrokerFrame;
      if (frame.t === 'msg') this.onMessage(frame, epoch);
      else if (frame.t === 'welcome') this.onWelcome(frame, epoch);
      else if (frame.t === 'err') this.onError(frame);
      else if (frame.t === 'event') this.spaces.event(frame);
      else if (frame.t === 'warn') this.feed.emit({ type: 'slow-consumer', dropped: frame.dropped ?? 0, where: 'broker' });
      else if ('re' in frame) this.settlePending(frame.re)?.resolve(frame);
    }
  }

  private onMessage(frame: MsgFrame, epoch: number): void {
    if (frame.tag !== undefined) {
      this.rcvTags.push(frame.tag);
      this.scheduleFlush();
    }
    const sub = this.subs.get(frame.sid);
    const msg = new Message(frame, this, epoch);
    if (sub) sub.deliver(msg);
    else msg.nack('unsubscribed');
  }

  private onWelcome(frame: WelcomeFrame, epoch: number): void {
    this.live = epoch;
    this.state = 'open';
    this.everConnected = true;
    this.attempts = 0;
    this.connectionId = frame.connectionId;
    this.limits = frame.limits;
    this.outbox ??= new Outbox(this.codec, frame.limits.maxFrameBytes);
    this.startHeartbeat(frame.heartbeatMs);
    for (const sub of this.subs.values()) this.sendSub(sub, true);
    this.spaces.restore();
    this.scheduleFlush();
    this.handshake?.resolve();
    this.handshake = undefined;
    this.feed.emit({ type: 'connected', connectionId: frame.connectionId });
  }

  private onError(frame: ErrFrame): void {
    const err = new LindenError(isErrorCode(frame.code) ? frame.code : 'INTERNAL_ERROR', frame.message, frame.details);
    const entry = frame.re === undefined ? undefined : this.settlePending(frame.re);
    const sid = frame.details?.sid;
    if (entry) entry.reject(err);
    else if (this.handshake && frame.re === 0) this.handshakeFailed(err);
    else if (typeof sid === 'number' && this.subs.has(sid)) {
      // The broker ended this subscription (its queue was deleted): do not restore it on reconnect.
      this.subs.get(sid)!.fail(err);
      this.subs.delete(sid);
    } else this.feed.emit({ type: 'error', error: err });
  }

  private settlePending(id: number): Pending | undefined {
    const entry = this.pending.get(id);
    if (!entry) return undefined;
    this.pending.delete(id);
    if (entry.timer) clearTimeout(entry.timer);
    return entry;
  }

  private onClose(code: number, reason: string, epoch: number): void {
    if (epoch !== this.epoch) return;
    const wasLive = this.live === epoch;
    this.live = 0;
    this.socket = undefined;
    clearInterval(this.heartbeat);
    const why = reason || this.lastSocketError;
    this.lastSocketError = undefined;
    this.handshakeFailed(new LindenError('CONNECTION_REFUSED', `connection closed during handshake (${code}${why ? ': ' + why : ''})`, { code, reason: why ?? '' }));
    if (this.state === 'closed') return;
    const lost = new LindenError('DISCONNECTED', `connection lost (${code}${reason ? ': ' + reason : ''})`, { code, reason });
    for (const [id, entry] of this.pending) if (entry.sentEpoch === epoch) this.settlePending(id)!.reject(lost);
    this.outbox?.dropConnectionBound();
    this.rcvTags = [];
    if (wasLive) this.feed.emit({ type: 'disconnected', code, reason });
    const reconnect = this.options.reconnect ?? true;
    if (!this.everConnected || reconnect === false || FATAL_CLOSE_CODES.includes(code)) {
      this.shutdown(lost);
      return;
    }
    this.scheduleReconnect(reconnect === true ? {} : reconnect);
  }

  private scheduleReconnect(options: ReconnectOptions): void {
    if (options.maxAttempts !== undefined && this.attempts >= options.maxAttempts) {
      this.shutdown(new LindenError('DISCONNECTED', `gave up after ${this.attempts} reconnection attempts`));
      return;
    }
    this.state = 'reconnecting';
    const delayMs = backoffDelay(this.attempts++, options);
    this.feed.emit({ type: 'reconnecting', attempt: this.attempts, delayMs });
    this.reconnectTimer = setTimeout(() => { this.open().catch(() => {}); }, delayMs);
  }

  private handshakeFailed(err: LindenError): void {
    const handshake = this.handshake;
    this.handshake = undefined;
    handshake?.reject(err);
  }

  private startHeartbeat(intervalMs: number): void {
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastSeen > 2 * intervalMs) {
        const epoch = this.live;
        this.socket?.close(CLOSE_CODES.HEARTBEAT_TIMEOUT.code, 'no answer to pings');
        this.onClose(CLOSE_CODES.HEARTBEAT_TIMEOUT.code, 'no answer to pings', epoch);
        return;
      }
      this.enqueue({ t: 'ping', id: this.nextId++ }, false);
    }, intervalMs);
    (this.heartbeat as { unref?: () => void }).unref?.();
  }

  private shutdown(err: LindenError): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.live = 0;
    clearInterval(this.heartbeat);
    clearTimeout(this.reconnectTimer);
    this.handshakeFailed(err);
    for (const id of [...this.pending.keys()]) this.settlePending(id)!.reject(err);
    for (const sub of this.subs.values()) err.code === 'CLOSED' ? sub.stop(err) : sub.fail(err);
    this.subs.clear();
    this.spaces.end(err);
    this.feed.emit({ type: 'closed' });
    this.feed.end();
  }

  private assertUsable(): void {
    if (this.state === 'closed') throw new LindenError('CLOSED');
  }
}
