import { LindenError } from '../protocol/errors.js';
import { someHeaders } from '../protocol/headers.js';
import { binHeaderLength, packStr, utf8Length } from '../protocol/frame-writer.js';
import type { AckLevel, BrokerFrame, ReceiptFrame } from '../protocol/frames.js';
import { assertTopic } from '../protocol/topics.js';
import { refusedWhileDraining } from '../protocol/draining.js';
import { packAroundData, Parts, type Codec, type Piece } from '../protocol/codec.js';
import type { ConnectionState } from './connection-state.js';
import { sendPiece, type Socket } from './transport.js';
import type { PublishOptions } from './options.js';
import { Outbox } from './outbox.js';
import type { PendingCalls } from './pending-calls.js';
import type { ClientPipeline } from './pipeline.js';
import { toReceipt } from './receipt.js';
import type { StatusFeed } from './status.js';
import { afterTurn } from './after-turn.js';

const RESOLVED = Promise.resolve();
/** Bytes of a fast-path publish besides its payload and topic, at most. */
const FAST_PATH_FIELDS = 512;
const DEFAULT_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** Payloads from this size are not copied into their frame's encoding (Outbound.encode). */
const PARTS_FROM = 64 * 1024;

/**
 * Everything the client writes to the broker: publishes, requests awaiting an answer, acks and
 * receipts of deliveries. Frames are coalesced in the outbox and leave at the end of a microtask
 * (or, for connection-bound ones, of the turn); while disconnected, portable ones wait there.
 */
export class Outbound {
  private outbox!: Outbox;
  private nextId = 1;
  /** Delivery tags received and not yet reported with `rcv`. */
  private rcvTags: number[] = [];
  private flushScheduled = false;
  private lateFlushScheduled = false;
  /** Topics already validated, with their MessagePack encoding. */
  private readonly topicCache = new Map<string, Uint8Array>();

  constructor(
    private readonly conn: ConnectionState,
    private readonly codec: Codec,
    private readonly pipeline: ClientPipeline,
    private readonly pending: PendingCalls,
    private readonly feed: StatusFeed,
    private readonly maxBufferedBytes = DEFAULT_MAX_BUFFERED_BYTES,
  ) {}

  /** Bytes of portable messages waiting to be written. */
  get queuedBytes(): number {
    return this.outbox?.bytes ?? 0;
  }

  /** A handshake completed: frames are sized by the broker's limits and the interceptors' needs. */
  connected(maxFrameBytes: number, largeFrom: number): void {
    this.outbox ??= new Outbox(this.codec, maxFrameBytes);
    this.outbox.largeFrom = largeFrom;
  }

  /** The connection closed: what named its tags or ids goes; what a draining broker was not given waits for the next one. */
  connectionLost(): void {
    this.outbox?.dropConnectionBound();
    this.outbox?.release();
    this.rcvTags = [];
  }

  publish(topic: string, data: unknown, options: PublishOptions, reply: boolean): Promise<any> {
    const conn = this.conn;
    if (conn.phase === 'closed') return Promise.reject(new LindenError('CLOSED'));
    try {
      let packedTopic = this.topicCache.get(topic);
      if (!packedTopic) {
        assertTopic(topic);
        if (this.topicCache.size > 10_000) this.topicCache.clear();
        packedTopic = packStr(topic);
        this.topicCache.set(topic, packedTopic);
      }
      const ack: AckLevel = options.ack ?? 'none';
      // Bytes are packed as a bin (as msgpackr does), by hand: the fast path below writes them straight into the frame.
      const bytes = this.codec.name === 'msgpack' && data instanceof Uint8Array ? data : undefined;
      let wire = bytes === undefined ? this.codec.packData(data) : undefined;
      const limit = conn.limits?.maxMessageBytes;
      const size = bytes !== undefined ? binHeaderLength(bytes.length) + bytes.length
        : this.codec.name === 'msgpack' ? (wire as Uint8Array).length : utf8Length(JSON.stringify(wire));
      if (limit !== undefined && size > limit) {
        throw new LindenError('MESSAGE_TOO_LARGE', `payload of ${size} bytes exceeds maxMessageBytes (${limit})`, { bytes: size, limit });
      }
      const mid = options.msgId ?? options.mid;
      const persistent = options.mode === 'persistent';
      // The fast path writes no headers and passes no request-level interceptor (trace context
      // stamps headers): a publish with headers, or with hooks to see it, takes the general one.
      const hdr = someHeaders(options.headers);
      const scheduled = options.delay !== undefined || options.deliverAt !== undefined;
      if (ack === 'none' && mid === undefined && !persistent && hdr === undefined && !scheduled && options.retain !== true && this.codec.name === 'msgpack' && conn.live
        && !conn.drainingEpoch && this.pipeline.outbound.isEmpty && this.outbox.largeFrom > size + FAST_PATH_FIELDS) {
        this.outbox.publishMsgpack(packedTopic, bytes ?? wire as Uint8Array, bytes !== undefined);
        this.scheduleFlush();
        return RESOLVED;
      }
      wire ??= this.codec.packData(data);
      const frame: Record<string, unknown> = { t: 'pub', topic, data: wire };
      if (mid !== undefined) frame.mid = mid;
      if (persistent) frame.mode = 'persistent';
      if (options.ttl !== undefined) frame.ttl = options.ttl;
      if (hdr !== undefined) frame.hdr = hdr;
      if (options.retain === true) frame.retain = true;
      if (options.delay !== undefined) frame.delay = options.delay;
      if (options.deliverAt !== undefined) frame.deliverAt = options.deliverAt;
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
      // A scheduled publish's later receipt comes after the due time plus its timeout: the broker times it, not the SDK.
      return this.call(frame, scheduled ? undefined : options.timeout).then((f) => toReceipt(f as ReceiptFrame, this.codec));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Sends a request and resolves with the broker's answer naming its id; `first` jumps the queue. */
  call(frame: Record<string, unknown>, timeout: number | undefined, first = false): Promise<BrokerFrame> {
    const id = this.nextId++;
    frame.id = id;
    const blocking = (frame.t === 'in' || frame.t === 'rd') && frame.wait !== false && frame.limit === undefined;
    const answer = this.pending.add(id, timeout, this.conn.limits?.maxTimeoutMs, blocking);
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

  /** A heartbeat ping; its pong only shows the broker is alive. */
  ping(): void {
    this.enqueue({ t: 'ping', id: this.nextId++ }, false);
  }

  /** A delivery that wants acknowledging: its tag goes back in the next `rcv`. */
  received(tag: number): void {
    this.rcvTags.push(tag);
    this.scheduleFlush();
  }

  /** A publish or write a draining broker refused (DRAINING): it waits for the next broker, in request order. */
  holdForNextBroker(piece: Piece | Parts, id: number): void {
    this.outbox.hold(piece, id, id);
  }

  /** True when nothing waits to be written on this connection. */
  get isEmpty(): boolean {
    return this.outbox.isEmpty;
  }

  /**
   * Queues a frame after the outbound request-level interceptors; `sent`/`rejected` learn the
   * outcome when a caller waits for no reply (a request's rejection fails its pending call).
   */
  enqueue(frame: object, portable: boolean, id?: number, sent?: () => void, rejected?: (err: Error) => void): void {
    if (this.conn.phase === 'closed') throw new LindenError('CLOSED');
    if (!this.conn.live && !portable) return;
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
    const piece = this.encode(frame);
    const refusable = refusedWhileDraining(frame);
    const held = refusable && this.conn.drainingEpoch !== 0;
    if ((!this.conn.live || held) && this.outbox.bytes + piece.length > this.maxBufferedBytes) {
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

  /**
   * A large MessagePack payload stays where packData() put it, behind the other fields (Parts):
   * encoding the frame around it copied every byte of a 50 MiB publish once more (issue 14).
   */
  private encode(frame: object): Piece | Parts {
    const data = (frame as { data?: unknown }).data;
    if (this.codec.name === 'msgpack' && data instanceof Uint8Array && data.length >= PARTS_FROM) return packAroundData(frame as { data: Uint8Array });
    return this.codec.encode(frame);
  }

  /** Writes what is queued once the current microtask ends. */
  scheduleFlush(): void {
    if (this.flushScheduled || !this.conn.live) return;
    this.flushScheduled = true;
    // Not queueMicrotask: in Node it makes an AsyncResource and a bound function per call (~500
    // bytes a request, issue 14); a reaction on a settled promise is a microtask as well.
    void RESOLVED.then(this.flushSoon);
  }

  /** Made once: a closure per flush was garbage per request (issue 14). */
  private readonly flushSoon = (): void => this.flushNow();
  /** The socket flushNow() writes to, for the two below. */
  private flushingTo: Socket | undefined;
  private readonly write = (frame: Uint8Array | string): void => this.flushingTo!.send(frame);
  private readonly sendLarge = (piece: Piece | Parts): void => {
    const chain = this.conn.chain;
    if (chain) chain.send(piece);
    else sendPiece(this.flushingTo!, piece);
  };

  /**
   * Acks, nacks and pings leave at the end of the turn, not of the microtask: a consumer
   * acknowledging each message of a frame as it iterates sends them all in one frame, where a
   * flush per microtask wrote one frame, and one syscall, per ack (issue 21: drain rate).
   */
  private scheduleLateFlush(): void {
    if (this.flushScheduled || this.lateFlushScheduled || !this.conn.live) return;
    this.lateFlushScheduled = true;
    afterTurn(() => {
      this.lateFlushScheduled = false;
      if (!this.flushScheduled) this.flushNow();
    });
  }

  flushNow(): void {
    this.flushScheduled = false;
    const socket = this.conn.socket;
    if (!this.conn.live || !socket) return;
    if (this.rcvTags.length > 0) {
      this.outbox.add(this.codec.encode({ t: 'rcv', tags: this.rcvTags }), false);
      this.rcvTags = [];
    }
    if (this.outbox.isEmpty) return;
    const outer = this.flushingTo;
    this.flushingTo = socket;
    let ids: number[];
    try {
      ids = this.outbox.drain(this.write, this.sendLarge);
    } finally {
      this.flushingTo = outer;
    }
    // Nothing buffered: the frames were taken whole (ws copies what it masks; a browser counts
    // what it sends in bufferedAmount, so there this never holds right after a send).
    if (socket.bufferedAmount === 0) this.outbox.recycle();
    this.pending.sent(ids, this.conn.live);
  }

  /** Writes one frame at once, bypassing the outbox and the interceptors (the hello). */
  sendNow(frame: object): void {
    const piece = this.codec.encode(frame);
    if (this.codec.name !== 'msgpack') {
      this.conn.socket?.send(`[${piece as string}]`);
      return;
    }
    // Copied behind the array header rather than spread: a hello with a will may be large.
    const bytes = piece as Uint8Array;
    const framed = new Uint8Array(bytes.length + 1);
    framed[0] = 0x91;
    framed.set(bytes, 1);
    this.conn.socket?.send(framed);
  }
}
