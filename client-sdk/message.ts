import type { Codec } from '../protocol/codec.js';
import { LindenError } from '../protocol/errors.js';
import type { MsgFrame } from '../protocol/frames.js';
import { NO_HEADERS, type Headers } from '../protocol/headers.js';

type SettleFrame = { t: 'ack'; tag: number; data?: unknown } | { t: 'nack'; tag: number; reason?: string; delay?: number };

/** What a message needs to answer the broker on the connection it arrived on. */
export interface MessageOwner {
  readonly codec: Codec;
  /** Connection generation; acks for a message from an earlier connection are meaningless. */
  readonly epoch: number;
  /** `delivery`: the frame the message arrived in (a durable one's `sid`, `mid` and `dc` matter). */
  settle(delivery: MsgFrame, epoch: number, frame: SettleFrame | { t: 'working'; tag: number }): void;
}

/** A delivered message. `data` is decoded on first access. */
export class Message<T = unknown> {
  readonly topic: string;
  readonly id: string;
  /** True when the publisher waits for this receiver to ack (sync point `processing` or a request). */
  readonly wantsAck: boolean;
  /** True when the publisher sent it with request() and waits for reply(). */
  readonly isRequest: boolean;
  /** Durable deliveries and a named stream reader's: how many times the broker has delivered this message, this time included (1 for others). */
  readonly deliveryCount: number;
  readonly redelivered: boolean;
  /** Stream deliveries: the message's seq in the stream (undefined for others). */
  readonly seq: number | undefined;
  /** Stream deliveries: when the broker appended it to the stream, ms since the epoch. */
  readonly time: number | undefined;
  /** A retained message (README "Retained messages"), sent ahead of live ones because the subscription asked with `retained: true`. */
  readonly retained: boolean;
  private settled = false;
  private decoded = false;
  private value: T | undefined;

  constructor(private readonly frame: MsgFrame, private readonly owner: MessageOwner, private readonly epoch: number) {
    this.topic = frame.topic;
    this.id = frame.mid;
    this.wantsAck = frame.ack === 'processing';
    this.isRequest = frame.reply === true;
    this.deliveryCount = frame.dc ?? 1;
    this.redelivered = this.deliveryCount > 1;
    this.seq = frame.seq;
    this.time = frame.time;
    this.retained = frame.retained === true;
  }

  /** The publisher's headers (`publish(..., { headers })`); `{}` when it gave none. Read-only. */
  get headers(): Readonly<Headers> {
    return this.frame.hdr ?? NO_HEADERS;
  }

  get data(): T {
    if (!this.decoded) {
      this.value = this.owner.codec.unpackData(this.frame.data) as T;
      this.decoded = true;
    }
    return this.value as T;
  }

  /** Tells the publisher this receiver processed the message. A no-op when nobody waits for it. */
  ack(): void {
    this.settle({ t: 'ack', tag: this.frame.tag! });
  }

  /**
   * Rejects the message: a waiting publisher learns it (with the reason); a durable
   * subscription redelivers it, after `delay` ms if given, until maxDeliveries.
   */
  nack(reasonOrOptions?: string | { reason?: string; delay?: number }): void {
    const o = typeof reasonOrOptions === 'string' ? { reason: reasonOrOptions } : (reasonOrOptions ?? {});
    const frame: SettleFrame = { t: 'nack', tag: this.frame.tag! };
    if (o.reason !== undefined) frame.reason = o.reason;
    if (o.delay !== undefined) frame.delay = o.delay;
    this.settle(frame);
  }

  /** Durable deliveries: still working on it; restarts the ack deadline (ackWait). */
  working(): void {
    if (this.settled || !this.wantsAck) return;
    this.owner.settle(this.frame, this.epoch, { t: 'working', tag: this.frame.tag! });
  }

  /** Answers a request; also acks the message. */
  reply(data: unknown): void {
    if (!this.wantsAck) throw new LindenError('INVALID_ARGUMENT', `message ${this.id} on "${this.topic}" is not a request; nobody waits for a reply`);
    this.settle({ t: 'ack', tag: this.frame.tag!, data: this.owner.codec.packData(data) });
  }

  get isSettled(): boolean {
    return this.settled || !this.wantsAck;
  }

  private settle(frame: SettleFrame): void {
    if (this.settled || !this.wantsAck) return;
    this.settled = true;
    this.owner.settle(this.frame, this.epoch, frame);
  }
}
