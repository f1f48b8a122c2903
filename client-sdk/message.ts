import type { Codec } from '../protocol/codec.js';
import { LindenError } from '../protocol/errors.js';
import type { MsgFrame } from '../protocol/frames.js';

/** What a message needs to answer the broker on the connection it arrived on. */
export interface MessageOwner {
  readonly codec: Codec;
  /** Connection generation; acks for a message from an earlier connection are meaningless. */
  readonly epoch: number;
  settle(tag: number, epoch: number, frame: { t: 'ack'; tag: number; data?: unknown } | { t: 'nack'; tag: number; reason?: string }): void;
}

/** A delivered message. `data` is decoded on first access. */
export class Message<T = unknown> {
  readonly topic: string;
  readonly id: string;
  /** True when the publisher waits for this receiver to ack (sync point `processing` or a request). */
  readonly wantsAck: boolean;
  /** True when the publisher sent it with request() and waits for reply(). */
  readonly isRequest: boolean;
  private settled = false;
  private decoded = false;
  private value: T | undefined;

  constructor(private readonly frame: MsgFrame, private readonly owner: MessageOwner, private readonly epoch: number) {
    this.topic = frame.topic;
    this.id = frame.mid;
    this.wantsAck = frame.ack === 'processing';
    this.isRequest = frame.reply === true;
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

  /** Tells the publisher this receiver rejected the message. */
  nack(reason?: string): void {
    this.settle(reason === undefined ? { t: 'nack', tag: this.frame.tag! } : { t: 'nack', tag: this.frame.tag!, reason });
  }

  /** Answers a request; also acks the message. */
  reply(data: unknown): void {
    if (!this.wantsAck) throw new LindenError('INVALID_ARGUMENT', `message ${this.id} on "${this.topic}" is not a request; nobody waits for a reply`);
    this.settle({ t: 'ack', tag: this.frame.tag!, data: this.owner.codec.packData(data) });
  }

  get isSettled(): boolean {
    return this.settled || !this.wantsAck;
  }

  private settle(frame: { t: 'ack'; tag: number; data?: unknown } | { t: 'nack'; tag: number; reason?: string }): void {
    if (this.settled || !this.wantsAck) return;
    this.settled = true;
    this.owner.settle(this.frame.tag!, this.epoch, frame);
  }
}
