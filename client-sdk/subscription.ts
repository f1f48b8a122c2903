import type { QueueSettings } from './options.js';
import type { StreamStart } from '../protocol/frames.js';
import type { LindenError } from '../protocol/errors.js';
import type { Message } from './message.js';
import { QueuedIterator } from './queued-iterator.js';

export interface SubscribeOptions<T = unknown> extends QueueSettings {
  /** Competing consumers: each message goes to one member of the group. */
  group?: string;
  /**
   * Attach to (creating if needed) the durable subscription of this name: it keeps persistent
   * messages while no consumer is connected; consumers attached to one name compete. The queue
   * settings given here are those of a queue this creates; an existing queue keeps its own, and
   * a setting that differs from them fails the subscription with QUEUE_CONFLICT (change them with
   * `createQueue`). A subscription sent again after a reconnect is checked the same way.
   */
  durable?: string;
  /**
   * Called for each message instead of queueing it for `for await`. When the publisher waits
   * for processing, the message is acked once the callback returns (or its promise resolves)
   * and nacked if it throws, unless the callback settled it itself.
   */
  callback?: (msg: Message<T>) => void | Promise<void>;
  /**
   * First receive the retained message of every topic the pattern matches (`msg.retained`
   * true), then live ones, with no gap and no repeat between the two. Not with `durable` or
   * `group`. Sent again after a reconnect, so the retained messages come again then.
   */
  retained?: boolean;
  /** Messages queued for a slow `for await` consumer before new ones are dropped. Default 65,536. */
  maxPending?: number;
  /**
   * Read this replayable stream (created with `createStream`): its messages matching `pattern`
   * from `start` on, then the new ones as they are appended. Each message has `seq` and `time`.
   */
  stream?: string;
  /** Where a stream subscription starts: 'first' (default), 'last', 'new', `{ seq }` or `{ time }` (ms since the epoch). */
  start?: StreamStart;
  /**
   * A named reader of the stream: the broker keeps its position (the lowest seq not acked) across
   * reconnects and restarts, and `start` applies only when the reader is new. Its messages wait
   * for `msg.ack()`; one not acked within `ackWait` (default 30,000 ms; `msg.working()` restarts
   * it) comes again, and those not acked come again when the reader returns.
   */
  reader?: string;
}

export interface SubscriptionHost {
  unsubscribe(sid: number): void;
  reportDrop(sid: number, pattern: string): void;
}

/** A subscription: an AsyncIterable of messages, or a callback when one was given. */
export class Subscription<T = unknown> implements AsyncIterable<Message<T>> {
  /** Resolves once the broker has the subscription in effect. */
  readonly ready: Promise<void>;
  private readonly iterator: QueuedIterator<Message<T>>;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;
  private closed = false;
  received = 0;
  /** Stream subscriptions: the seq of the last message delivered, so a reconnect reads on from after it. */
  lastSeq: number | undefined;

  constructor(
    readonly sid: number,
    readonly pattern: string,
    readonly options: SubscribeOptions<T>,
    private readonly host: SubscriptionHost,
  ) {
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => {}); // surfaced through the iterator too; never an unhandled rejection
    this.iterator = new QueuedIterator(() => this.unsubscribe());
  }

  [Symbol.asyncIterator](): AsyncIterator<Message<T>> {
    return this.iterator;
  }

  unsubscribe(): void {
    if (this.closed) return;
    this.closed = true;
    this.iterator.end();
    this.host.unsubscribe(this.sid);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** @internal */
  confirmed(): void {
    this.resolveReady();
  }

  /** @internal The broker refused it, or the client closed: ends the subscription with the error. */
  fail(err: LindenError): void {
    this.rejectReady(err);
    this.closed = true;
    this.iterator.end(err);
  }

  /** @internal The client closed: the iterator ends normally. */
  stop(err: LindenError): void {
    this.rejectReady(err);
    this.closed = true;
    this.iterator.end();
  }

  /** @internal */
  deliver(msg: Message<T>): void {
    if (this.closed) return;
    this.received++;
    if (msg.seq !== undefined) this.lastSeq = msg.seq;
    const callback = this.options.callback;
    if (!callback) {
      if (this.iterator.pending >= (this.options.maxPending ?? 65_536)) {
        this.host.reportDrop(this.sid, this.pattern);
        msg.nack('client queue full');
        return;
      }
      this.iterator.push(msg);
      return;
    }
    try {
      const result = callback(msg);
      if (result && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).then(() => msg.ack(), (err: unknown) => msg.nack(String(err)));
      } else {
        msg.ack();
      }
    } catch (err) {
      msg.nack(String(err));
    }
  }
}
