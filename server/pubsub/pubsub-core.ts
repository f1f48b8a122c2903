import { LindenError, invalidField } from '../../protocol/errors.js';
import type { AckLevel, PubFrame, ReceiverRef, SubFrame, UnsubFrame } from '../../protocol/frames.js';
import { hasQueueSettings, settingNotForStreams } from '../../protocol/queue-settings.js';
import { assertPattern, assertTopic } from '../../protocol/topics.js';
import type { Connection } from '../connection.js';
import { Tally } from '../counted-map.js';
import { LeaseHeap } from '../../protocol/lease-heap.js';
import type { ResolvedOptions } from '../options.js';
import type { ClusterQueues } from '../cluster/durable/cluster-queues.js';
import type { DurableCore } from './durable/durable-core.js';
import type { ClusterLink, RetainedLink } from './cluster-link.js';
import { OutboundMessage } from './outbound-message.js';
import { isEmpty, type RetainedMessages } from './retained-messages.js';
import { checkRetainPub, checkRetainedSub } from './retain-rules.js';
import { sendSubmissionReceipt } from './submission-receipt.js';
import { PersistentPublishes } from './persistent-publish.js';
import { payloadWithin, type Payload } from './payload.js';
import { ReceiptTracker } from './receipt-tracker.js';
import { Router, type Route } from './router.js';
import { isGroup, type RouteEntry, type Subscription } from './subscription.js';
import { afterForwarding, forwardsAsItArrives } from './arriving-publish.js';
import { DEFAULT_READER_ACK_WAIT } from './streams/reader-acks.js';

/** Transient pub/sub: routing, competing consumers and the four synchronisation points. */
export class PubSubCore {
  readonly router = new Router();
  private seq = 0;
  /** `published` counts both modes; `persistent` the part of it that was persistent; `streamed` the large ones forwarded as they arrived. */
  readonly stats = { published: 0, persistent: 0, delivered: 0, dropped: 0, streamed: 0 };
  /** Subscriptions of all connections: each connection's `subs` counts into it (maxSubscriptionsTotal). */
  readonly subscriptions = new Tally();
  /** Stored, then delivered here (server/pubsub/persistent-publish.ts). */
  private readonly persistent: PersistentPublishes;
  /** When receipts time out, on a monotonic clock: one timer for all of them (DESIGN.md §5 "Time"). */
  private readonly receiptDeadlines = new LeaseHeap<ReceiptTracker>((tracker) => tracker.timeOut(), undefined, () => performance.now());
  /** The bus to the other nodes of a cluster (server/cluster/); undefined on a broker on its own. */
  cluster: ClusterLink | undefined;
  /** Cluster mode: retained messages live in Redis instead of `retained` (server/cluster/cluster-retained.ts). */
  retainedLink: RetainedLink | undefined;

  constructor(
    private readonly options: ResolvedOptions, private readonly idPrefix: string, private readonly durable: DurableCore,
    /** Retained last values (issue 17) of a broker on its own; in cluster mode `retainedLink` keeps them in Redis. */
    readonly retained: RetainedMessages,
    /** Cluster mode: durable subscriptions and persistent messages live in Redis instead (server/cluster/durable/). */
    private readonly clusterQueues?: ClusterQueues,
  ) {
    this.persistent = new PersistentPublishes(this, durable, clusterQueues);
  }

  /** Returns the store's promise when the subscription declared or changed a durable queue. */
  subscribe(conn: Connection, f: SubFrame): Promise<void> | undefined {
    assertPattern(f.pattern);
    if (f.stream !== undefined) return this.subscribeStream(conn, f);
    if (f.start !== undefined || f.reader !== undefined) throw invalidField('sub', f.start !== undefined ? 'start' : 'reader', 'needs stream');
    if (f.durable !== undefined && f.group !== undefined) {
      throw invalidField('sub', 'group', 'cannot be combined with durable: consumers of a durable subscription already compete');
    }
    if (f.durable === undefined && hasQueueSettings(f)) throw invalidField('sub', 'ackWait', 'and the other queue settings need durable');
    if (f.retained === true) checkRetainedSub(f);
    this.checkRoom(conn, f.sid);
    if (f.durable !== undefined) {
      const { t: _t, id: _id, sid, pattern, durable, group: _g, ...settings } = f;
      const mayConfigure = conn.user !== undefined && conn.permissions.may('queue.manage', durable);
      const sub: Subscription = { conn, sid, pattern, durable };
      if (this.clusterQueues) {
        conn.subscribe(sid, sub);
        return this.clusterQueues.attach(conn, sid, durable, pattern, settings, mayConfigure, () => conn.subs.get(sid) === sub).catch((err: unknown) => {
          if (conn.subs.get(sid) === sub) conn.subs.delete(sid);
          throw err;
        });
      }
      const written = this.durable.attach(conn, sid, durable, pattern, settings, mayConfigure);
      conn.subscribe(sid, sub);
      // An `err` instead of the `ok`: the subscription must not live on unknown to its client.
      return written?.catch((err: unknown) => {
        if (conn.subs.get(sid) !== sub) throw err;
        conn.subs.delete(sid);
        this.durable.detach(conn, sid);
        throw err;
      });
    }
    const sub: Subscription = f.group === undefined
      ? { conn, sid: f.sid, pattern: f.pattern }
      : { conn, sid: f.sid, pattern: f.pattern, group: f.group };
    conn.subscribe(f.sid, sub);
    if (f.retained === true && this.retainedLink) return this.subscribeRetainedClustered(this.retainedLink, conn, sub);
    // The snapshot and the registration in one turn: every publish is either in the snapshot
    // (it was the last on its topic before this) or reaches the subscription live, never both.
    if (f.retained === true) this.count(...this.retained.deliverTo(conn, sub));
    this.router.add(sub);
    return this.cluster?.subscribed(sub);
  }

  /**
   * A `sub` with `stream` (issue 17): a reader of the stream from `start` (or a named reader's
   * stored position), answered once a new named reader's position is stored. Cluster mode: the
   * stream is in Redis (server/cluster/streams/), answered once the reader's start is known there.
   */
  private subscribeStream(conn: Connection, f: SubFrame): Promise<void> | undefined {
    if (f.durable !== undefined || f.group !== undefined || f.retained !== undefined) {
      throw invalidField('sub', f.durable !== undefined ? 'durable' : f.group !== undefined ? 'group' : 'retained', 'cannot be combined with stream');
    }
    const other = settingNotForStreams(f);
    if (other) throw invalidField('sub', other, 'is a setting of durable subscriptions, not of streams');
    const ackWait = f.ackWait;
    if (ackWait !== undefined && f.reader === undefined) throw invalidField('sub', 'ackWait', 'on a stream needs reader: only a named reader\'s deliveries wait for an ack');
    const wait = ackWait ?? DEFAULT_READER_ACK_WAIT;
    this.checkRoom(conn, f.sid);
    if (this.clusterQueues) {
      const sub: Subscription = { conn, sid: f.sid, pattern: f.pattern, stream: f.stream! };
      conn.subscribe(f.sid, sub);
      return this.clusterQueues.streams.attach(conn, f.sid, f.stream!, f.pattern, f.start, f.reader, wait, () => conn.subs.get(f.sid) === sub).catch((err: unknown) => {
        if (conn.subs.get(f.sid) === sub) conn.subs.delete(f.sid);
        throw err;
      });
    }
    const streams = this.durable.streams;
    const reader = streams.attach(conn, f.sid, f.stream!, f.pattern, f.start, f.reader, wait);
    conn.subscribe(f.sid, { conn, sid: f.sid, pattern: f.pattern, stream: f.stream! });
    return streams.started(reader);
  }

  /** DUPLICATE_ID, then the subscription limits of the connection and of the broker. */
  private checkRoom(conn: Connection, sid: number): void {
    if (conn.subs.has(sid)) throw new LindenError('DUPLICATE_ID', `subscription id ${sid} is already in use`, { sid });
    if (conn.subs.size >= this.options.maxSubscriptions) {
      throw new LindenError('TOO_MANY_SUBSCRIPTIONS', `at most ${this.options.maxSubscriptions} subscriptions per connection (maxSubscriptions)`, { limit: 'maxSubscriptions' });
    }
    if (this.subscriptions.count >= this.options.maxSubscriptionsTotal) {
      throw new LindenError('TOO_MANY_SUBSCRIPTIONS', `the broker holds ${this.subscriptions.count} subscriptions, its limit for all connections together (maxSubscriptionsTotal)`, { limit: 'maxSubscriptionsTotal' });
    }
  }

  /** Cluster mode: the `ok` waits for the other nodes' knowing of it and for the snapshot from Redis, delivered. */
  private subscribeRetainedClustered(link: RetainedLink, conn: Connection, sub: Subscription): Promise<void> {
    this.router.add(sub);
    const interest = this.cluster?.subscribed(sub);
    const snapshot = link.snapshot(conn, sub).catch((err: unknown) => {
      if (conn.subs.get(sub.sid) === sub) {
        conn.subs.delete(sub.sid);
        this.removeRoute(sub);
      }
      throw err;
    });
    return interest ? Promise.all([interest, snapshot]).then(() => undefined) : snapshot;
  }

  unsubscribe(conn: Connection, f: UnsubFrame): void {
    const sub = conn.subs.get(f.sid);
    if (!sub) throw new LindenError('UNKNOWN_ID', `no subscription with id ${f.sid}`, { sid: f.sid });
    conn.subs.delete(f.sid);
    if (sub.stream !== undefined) (this.clusterQueues?.streams ?? this.durable.streams).detach(conn, f.sid);
    else if (sub.durable !== undefined) (this.clusterQueues ?? this.durable).detach(conn, f.sid);
    else this.removeRoute(sub);
  }

  private removeRoute(sub: Subscription): void {
    this.router.remove(sub);
    this.cluster?.unsubscribed(sub);
  }

  /** Removes every subscription of a closing connection; what its durable consumers held is redelivered. */
  detach(conn: Connection): void {
    for (const sub of conn.subs.values()) if (sub.durable === undefined && sub.stream === undefined) this.removeRoute(sub);
    this.durable.detachAll(conn);
    (this.clusterQueues?.streams ?? this.durable.streams).detachAll(conn);
    this.clusterQueues?.detachAll(conn);
    conn.subs.clear();
  }

  /** Returns a promise only for a retained publish in cluster mode: the publisher's next messages wait for it (their order). */
  publish(conn: Connection, f: PubFrame): Promise<void> | undefined {
    // The route cache only ever holds topics that passed validation.
    let route = this.router.cached(f.topic);
    if (!route) {
      assertTopic(f.topic);
      route = this.router.match(f.topic);
    }
    const ack = f.ack ?? 'none';
    if (ack !== 'none' && f.id === undefined) throw invalidPub('id', 'is required when ack is not "none"');
    if (f.reply && ack !== 'processing') throw invalidPub('reply', 'needs ack "processing": a reply is a processing ack');
    if (f.reply && f.mode === 'persistent') throw invalidPub('mode', 'must be transient for a request');
    if (f.ttl !== undefined && f.mode !== 'persistent') throw invalidPub('ttl', 'is for persistent messages: a transient one is delivered now or never');
    const payload = payloadWithin(conn, f.data);
    if (payload.stream) {
      this.publishArriving(conn, f, ack, payload, route);
      return;
    }
    const { entries } = route;
    if (f.reply && entries.length === 0 && !this.cluster?.hasInterest(f.topic)) throw new LindenError('NO_RESPONDERS', `no subscriber for request on "${f.topic}"`, { topic: f.topic });
    // Convert before the first delivery, so a payload that cannot be converted fails whole.
    if (route.json && conn.codec.name === 'msgpack') payload.jsonData();
    // Whether this retained publish clears its topic: asked once, for both check() and keep().
    let clears = false;
    if (f.retain === true) {
      checkRetainPub(f, ack, this.retainedLink !== undefined);
      if (!this.retainedLink) {
        clears = isEmpty(payload);
        this.retained.check(f.topic, payload, clears, f.mode === 'persistent');
      }
    }
    const mid = f.mid ?? this.idPrefix + (this.seq++).toString(36);
    if (f.retain === true && this.retainedLink) {
      this.stats.published++;
      return this.retainedLink.publish(conn, f, ack, mid, payload);
    }
    const message = new OutboundMessage(f.topic, mid, payload, entries.length, f.hdr, route.topicBytes);
    if (f.mode === 'persistent') {
      this.persistent.publish(conn, f, ack, mid, payload, message, entries, clears);
      // Counted once accepted: a publish refused on the way (QUEUE_FULL) was not published.
      this.stats.published++;
      this.stats.persistent++;
      return undefined;
    }
    this.stats.published++;
    // A transient retained value lives in memory only; set in the turn it is delivered (see subscribe()).
    if (f.retain === true) this.retained.keep(f.topic, mid, payload, clears, f.hdr, false);
    if (this.cluster !== undefined && this.cluster.publish(conn, f, ack, message, entries)) return undefined;
    if (ack === 'delivery' || ack === 'processing') {
      this.track(conn, f, ack, message, entries);
      return undefined;
    }
    const dropped = this.fanOut(message, entries, ack === 'submission');
    if (ack === 'submission') sendSubmissionReceipt(conn, f.id!, mid, entries.length, dropped);
    return undefined;
  }

  /**
   * A large `pub` at its first fragment (server/pubsub/arriving-publish.ts): forwarded as it
   * arrives where nothing needs it whole, otherwise published once its last fragment came.
   */
  private publishArriving(conn: Connection, f: PubFrame, ack: AckLevel, payload: Payload, route: Route): void {
    const stream = payload.stream!;
    // Broken off while the pub waited its turn (held behind an earlier message, say): its fault
    // was answered already, and a failed stream has nothing left to read or collect.
    if (stream.failed) return;
    if (!forwardsAsItArrives(f, route, stream.length, this.cluster !== undefined)) {
      stream.collect((data) => {
        try {
          this.publish(conn, { ...f, data });
        } catch (err) {
          conn.sendError(err, f.id);
        }
      });
      return;
    }
    const mid = f.mid ?? this.idPrefix + (this.seq++).toString(36);
    const message = new OutboundMessage(f.topic, mid, payload, route.entries.length, f.hdr, route.topicBytes);
    this.stats.published++;
    this.stats.streamed++;
    if (ack === 'delivery' || ack === 'processing') {
      // Receivers ack once they have it all; if it breaks off first, nothing is left to wait for.
      const tracker = new ReceiptTracker(conn, f.id!, mid, ack, false);
      this.track(conn, f, ack, message, route.entries, tracker);
      afterForwarding(stream, conn, this.options.writeDeadlineMs, undefined);
      stream.onEnd((err) => err && tracker.cancel());
      return;
    }
    const dropped = this.fanOut(message, route.entries, ack === 'submission');
    const receipt = ack === 'submission' ? () => sendSubmissionReceipt(conn, f.id!, mid, route.entries.length, dropped) : undefined;
    afterForwarding(stream, conn, this.options.writeDeadlineMs, receipt);
  }

  /**
   * Delivers to every route entry connected now (one member per group); returns those dropped,
   * if any, when a receipt will name them (`report`). Without one a drop allocates nothing: a
   * frozen subscriber costs the others as little as possible (protocol.md §11).
   */
  fanOut(message: OutboundMessage, entries: RouteEntry[], report: boolean): ReceiverRef[] | undefined {
    let dropped: ReceiverRef[] | undefined;
    let drops = 0;
    for (const entry of entries) {
      const sub = isGroup(entry) ? entry.pick(message) : entry;
      if (sub.conn.deliver(sub.sid, message)) continue;
      drops++;
      if (report) (dropped ??= []).push(refOf(sub));
    }
    this.count(entries.length, drops);
    return dropped;
  }

  /** Delivers to `entries` and waits for their receipts (a cluster's tracker also waits for other nodes). */
  track(
    conn: Connection, f: PubFrame, ack: 'delivery' | 'processing', message: OutboundMessage, entries: RouteEntry[],
    tracker = new ReceiptTracker(conn, f.id!, message.mid, ack, f.reply === true),
  ): void {
    let dropped = 0;
    for (const entry of entries) {
      const sub = isGroup(entry) ? entry.pick(message) : entry;
      // Decided as deliver() decides: a large message also counts the fragments still to be cut.
      if (sub.conn.wouldDrop(message)) {
        sub.conn.deliver(sub.sid, message); // counted and reported to the receiver as a drop
        tracker.addDropped(sub.conn, sub.sid, sub.group);
        dropped++;
        continue;
      }
      const tag = tracker.add(sub.conn, sub.sid, sub.group);
      sub.conn.deliver(sub.sid, message, { tag, ack, reply: f.reply });
    }
    this.count(entries.length, dropped);
    conn.track(tracker);
    tracker.start(Math.min(f.timeout ?? this.options.receiptTimeoutMs, this.options.maxTimeoutMs), this.receiptDeadlines);
  }

  count(receivers: number, dropped: number): void {
    this.stats.delivered += receivers - dropped;
    this.stats.dropped += dropped;
  }
}

export function refOf(sub: Subscription): ReceiverRef {
  return sub.group === undefined ? { connection: sub.conn.id, sid: sub.sid } : { connection: sub.conn.id, sid: sub.sid, group: sub.group };
}

function invalidPub(field: string, problem: string): LindenError {
  return invalidField('pub', field, problem);
}
