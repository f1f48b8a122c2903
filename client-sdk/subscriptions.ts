import { LindenError } from '../protocol/errors.js';
import type { BrokerFrame } from '../protocol/frames.js';
import { assertPattern } from '../protocol/topics.js';
import type { Message } from './message.js';
import { settingNotForStreams } from '../protocol/queue-settings.js';
import { DURABLE_OPTIONS, STREAM_OPTIONS, definedOnly } from './options.js';
import { Subscription, type SubscribeOptions } from './subscription.js';

/** What the client lends its subscriptions. */
export interface SubscriptionsClient {
  isLive(): boolean;
  call(frame: Record<string, unknown>, timeout?: number, first?: boolean): Promise<BrokerFrame>;
  /** Sends what is queued now (acks before an unsub that would overtake them). */
  flush(): void;
  reportDrop(pattern: string): void;
}

/** The client's subscriptions by `sid`; they are sent again, first, after a reconnect. */
export class ClientSubscriptions {
  private readonly subs = new Map<number, Subscription<any>>();
  private nextSid = 1;

  constructor(private readonly client: SubscriptionsClient) {}

  subscribe<T>(pattern: string, options: SubscribeOptions<T>): Subscription<T> {
    assertPattern(pattern);
    if (options.stream === undefined && (options.start !== undefined || options.reader !== undefined)) {
      throw new LindenError('INVALID_ARGUMENT', `subscribe("${pattern}"): ${options.start !== undefined ? 'start' : 'reader'} is for stream subscriptions; name the stream too`);
    }
    const queueOnly = options.stream === undefined ? undefined : settingNotForStreams(options);
    if (queueOnly !== undefined) throw new LindenError('INVALID_ARGUMENT', `subscribe("${pattern}"): ${queueOnly} is a setting of durable subscriptions, not of streams`);
    const sub = new Subscription<T>(this.nextSid++, pattern, options, {
      unsubscribe: (sid) => this.unsubscribe(sid),
      reportDrop: (_sid, p) => this.client.reportDrop(p),
    });
    this.subs.set(sub.sid, sub);
    if (this.client.isLive()) this.send(sub);
    return sub;
  }

  /** A delivery; one for a subscription no longer here is nacked. */
  deliver(sid: number, msg: Message<any>): void {
    const sub = this.subs.get(sid);
    if (sub) sub.deliver(msg);
    else msg.nack('unsubscribed');
  }

  /** A new connection: every subscription goes out ahead of anything buffered. */
  restore(): void {
    for (const sub of this.subs.values()) this.send(sub, true);
  }

  /** The broker ended subscription `sid` (its queue was deleted); false when there is none. */
  ended(sid: number, err: LindenError): boolean {
    const sub = this.subs.get(sid);
    if (!sub) return false;
    sub.fail(err);
    this.subs.delete(sid);
    return true;
  }

  /** The client is closed (CLOSED ends iterators quietly) or gave up. */
  end(err: LindenError): void {
    for (const sub of this.subs.values()) err.code === 'CLOSED' ? sub.stop(err) : sub.fail(err);
    this.subs.clear();
  }

  private send(sub: Subscription<any>, first = false): void {
    const frame: Record<string, unknown> = { t: 'sub', sid: sub.sid, pattern: sub.pattern };
    if (sub.options.group !== undefined) frame.group = sub.options.group;
    if (sub.options.retained === true) frame.retained = true;
    if (sub.options.durable !== undefined) Object.assign(frame, definedOnly(sub.options, DURABLE_OPTIONS));
    if (sub.options.stream !== undefined) {
      Object.assign(frame, definedOnly(sub.options, STREAM_OPTIONS));
      // Sent again after a reconnect, an unnamed reader reads on after what it had (a named one's position is the broker's).
      if (sub.options.reader === undefined && sub.lastSeq !== undefined) frame.start = { seq: sub.lastSeq + 1 };
    }
    this.client.call(frame, undefined, first).then(() => sub.confirmed(), (err: LindenError) => {
      if (err.code === 'DISCONNECTED') return; // sent again after reconnecting
      this.subs.delete(sub.sid);
      sub.fail(err);
    });
  }

  private unsubscribe(sid: number): void {
    if (!this.subs.delete(sid) || !this.client.isLive()) return;
    // Acks and nacks already queued go first: a durable queue would redeliver what an unsub overtook.
    this.client.flush();
    this.client.call({ t: 'unsub', sid }, undefined).catch(() => {}); // gone either way
  }
}
