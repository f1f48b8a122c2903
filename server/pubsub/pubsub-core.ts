import { LindenError } from '../../protocol/errors.js';
import type { AckFrame, NackFrame, PubFrame, RcvFrame, ReceiptFrame, ReceiverRef, SubFrame, UnsubFrame } from '../../protocol/frames.js';
import { assertPattern, assertTopic } from '../../protocol/topics.js';
import type { Connection } from '../connection.js';
import type { ResolvedOptions } from '../options.js';
import { OutboundMessage } from './outbound-message.js';
import { Payload } from './payload.js';
import { ReceiptTracker } from './receipt-tracker.js';
import { Router } from './router.js';
import { isGroup, type RouteEntry, type Subscription } from './subscription.js';

/** Transient pub/sub: routing, competing consumers and the four synchronisation points. */
export class PubSubCore {
  readonly router = new Router();
  private seq = 0;
  readonly stats = { published: 0, delivered: 0, dropped: 0 };

  constructor(private readonly options: ResolvedOptions, private readonly idPrefix: string) {}

  subscribe(conn: Connection, f: SubFrame): void {
    assertPattern(f.pattern);
    if (conn.subs.has(f.sid)) throw new LindenError('DUPLICATE_ID', `subscription id ${f.sid} is already in use`, { sid: f.sid });
    if (conn.subs.size >= this.options.maxSubscriptions) {
      throw new LindenError('TOO_MANY_SUBSCRIPTIONS', `at most ${this.options.maxSubscriptions} subscriptions per connection`);
    }
    const sub: Subscription = f.group === undefined
      ? { conn, sid: f.sid, pattern: f.pattern }
      : { conn, sid: f.sid, pattern: f.pattern, group: f.group };
    conn.subs.set(f.sid, sub);
    this.router.add(sub);
  }

  unsubscribe(conn: Connection, f: UnsubFrame): void {
    const sub = conn.subs.get(f.sid);
    if (!sub) throw new LindenError('UNKNOWN_ID', `no subscription with id ${f.sid}`, { sid: f.sid });
    conn.subs.delete(f.sid);
    this.router.remove(sub);
  }

  /** Removes every subscription of a closing connection. */
  detach(conn: Connection): void {
    for (const sub of conn.subs.values()) this.router.remove(sub);
    conn.subs.clear();
  }

  publish(conn: Connection, f: PubFrame): void {
    // The route cache only ever holds topics that passed validation.
    let route = this.router.cached(f.topic);
    if (!route) {
      assertTopic(f.topic);
      route = this.router.match(f.topic);
    }
    const ack = f.ack ?? 'none';
    if (ack !== 'none' && f.id === undefined) throw invalidPub('id', 'is required when ack is not "none"');
    if (f.reply && ack !== 'processing') throw invalidPub('reply', 'needs ack "processing": a reply is a processing ack');
    const payload = this.payloadOf(conn, f.data);
    const { entries } = route;
    if (f.reply && entries.length === 0) throw new LindenError('NO_RESPONDERS', `no subscriber for request on "${f.topic}"`, { topic: f.topic });
    // Convert before the first delivery, so a payload that cannot be converted fails whole.
    if (route.json && conn.codec.name === 'msgpack') payload.jsonData();
    const mid = f.mid ?? this.idPrefix + (this.seq++).toString(36);
    const message = new OutboundMessage(f.topic, mid, payload, entries.length);
    this.stats.published++;
    if (ack === 'delivery' || ack === 'processing') {
      this.track(conn, f, ack, message, entries);
      return;
    }
    let dropped: ReceiverRef[] | undefined;
    for (const entry of entries) {
      const sub = isGroup(entry) ? entry.pick() : entry;
      if (!sub.conn.deliver(sub.sid, message)) (dropped ??= []).push(refOf(sub));
    }
    this.count(entries.length, dropped?.length ?? 0);
    if (ack === 'submission') conn.sendFrame(submissionReceipt(f.id!, mid, entries.length, dropped ?? []));
  }

  /** A payload within maxMessageBytes, as it arrived. */
  private payloadOf(conn: Connection, data: unknown): Payload {
    const payload = new Payload(data, conn.codec);
    const bytes = payload.byteLength();
    if (bytes > this.options.maxMessageBytes) {
      throw new LindenError('MESSAGE_TOO_LARGE', `payload of ${bytes} bytes exceeds maxMessageBytes (${this.options.maxMessageBytes})`, {
        bytes, limit: this.options.maxMessageBytes,
      });
    }
    return payload;
  }

  private track(conn: Connection, f: PubFrame, ack: 'delivery' | 'processing', message: OutboundMessage, entries: RouteEntry[]): void {
    const tracker = new ReceiptTracker(conn, f.id!, message.mid, ack, f.reply === true);
    let dropped = 0;
    for (const entry of entries) {
      const sub = isGroup(entry) ? entry.pick() : entry;
      if (sub.conn.isCongested()) {
        sub.conn.deliver(sub.sid, message); // counted and reported to the receiver as a drop
        tracker.addDropped(sub.conn, sub.sid, sub.group);
        dropped++;
        continue;
      }
      const tag = tracker.add(sub.conn, sub.sid, sub.group);
      sub.conn.deliver(sub.sid, message, { tag, ack, reply: f.reply });
    }
    this.count(entries.length, dropped);
    conn.trackers.add(tracker);
    tracker.start(Math.min(f.timeout ?? this.options.receiptTimeoutMs, this.options.maxTimeoutMs));
  }

  received(conn: Connection, f: RcvFrame): void {
    let unknown: LindenError | undefined;
    for (const tag of f.tags) {
      try {
        const entry = conn.tagEntry(tag);
        entry?.tracker.delivered(entry.index);
      } catch (err) {
        unknown ??= err as LindenError;
      }
    }
    if (unknown) throw unknown;
  }

  ack(conn: Connection, f: AckFrame): void {
    const entry = conn.tagEntry(f.tag);
    if (!entry) return;
    // Check the reply fully before the tag is spent, so a refused ack can be sent again corrected.
    const reply = f.data === undefined ? undefined : this.payloadOf(conn, f.data);
    if (reply && conn.codec.name === 'msgpack' && entry.tracker.publisherCodec === 'json') reply.jsonData();
    conn.releaseTag(f.tag);
    entry.tracker.processed(entry.index, reply);
  }

  nack(conn: Connection, f: NackFrame): void {
    const entry = conn.tagEntry(f.tag);
    if (!entry) return;
    conn.releaseTag(f.tag);
    entry.tracker.rejected(entry.index, f.reason);
  }

  private count(receivers: number, dropped: number): void {
    this.stats.delivered += receivers - dropped;
    this.stats.dropped += dropped;
  }
}

function submissionReceipt(re: number, mid: string, receivers: number, dropped: ReceiverRef[]): ReceiptFrame {
  return {
    t: 'receipt', re, mid, stage: 'submission', receivers, delivered: 0, processed: 0, failed: 0, dropped: dropped.length,
    timedOut: false, missing: dropped, rejected: [],
  };
}

function refOf(sub: Subscription): ReceiverRef {
  return sub.group === undefined ? { connection: sub.conn.id, sid: sub.sid } : { connection: sub.conn.id, sid: sub.sid, group: sub.group };
}

function invalidPub(field: string, problem: string): LindenError {
  return new LindenError('INVALID_FRAME', `invalid "pub" message: field "${field}" ${problem}`, { t: 'pub', field });
}
