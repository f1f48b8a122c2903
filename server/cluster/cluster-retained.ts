import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { msgpackCodec, packr } from '../../protocol/codec.js';
import { LindenError } from '../../protocol/errors.js';
import type { AckLevel, Headers, PubFrame, ReceiverRef } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import type { ResolvedOptions } from '../options.js';
import type { RetainedLink } from '../pubsub/cluster-link.js';
import { OutboundMessage, RETAINED_DELIVERY } from '../pubsub/outbound-message.js';
import { Payload } from '../pubsub/payload.js';
import type { PubSubCore } from '../pubsub/pubsub-core.js';
import { isEmpty, receivesRetained, type RetainedView } from '../pubsub/retained-messages.js';
import { groupKey } from '../pubsub/router.js';
import { sendSubmissionReceipt } from '../pubsub/submission-receipt.js';
import { isGroup, type RouteEntry, type Subscription } from '../pubsub/subscription.js';
import type { ClusterBus } from './cluster-bus.js';
import { unavailable } from './redis-target.js';
import { byCodeUnits } from '../strings.js';
import {
  KEEP_RETAINED, RETAINED_BYTES_KEY, RETAINED_CHANNEL, RETAINED_SEQ_KEY, RETAINED_TOPICS_KEY, SNAPSHOT_RETAINED, retainedKey,
} from './retained-scripts.js';

type Scripted = Redis & {
  lindenKeepRetained(...args: (string | number | Uint8Array)[]): Promise<[number, string]>;
  lindenSnapshotRetainedBuffer(...args: (string | number)[]): Promise<Buffer[]>;
};

/** What a node's own retained publish reached here, for its submission receipt. */
interface Reached { receivers: number; dropped: ReceiverRef[] | undefined }

/** How long a publisher's next messages wait for its retained publish to come round the channel: Redis away must not hold them for ever. */
const OWN_EVENT_WAIT_MS = 2_000;
/** How long a retained publish or subscription waits for a node that does not hear the channel yet. */
const HEARING_WAIT_MS = 2_000;

/**
 * Retained messages of a cluster (issue 17). Redis holds them (retained-scripts.ts); a script
 * keeps or clears one and announces it, with a cluster-wide sequence number, on a channel every
 * node hears, which is also how every node delivers a retained publish to its own subscribers.
 * A new subscription's snapshot is read with the sequence number as of the read: events up to it
 * are in the snapshot, later ones reach the subscription live, so between the two there is no
 * gap and no repeat whichever node published.
 */
export class ClusterRetained implements RetainedLink {
  private readonly redis: Scripted;
  /** The highest sequence number heard on the channel. */
  private heard = 0;
  /** Subscriptions whose snapshot is being read, with the events heard meanwhile. */
  private readonly pending = new Map<Subscription, Array<[number, OutboundMessage]>>();
  /** Subscriptions with a snapshot newer than what this node has heard: events up to that number are not theirs. */
  private readonly floors = new Map<Subscription, number>();
  /** Own publishes by sequence number: waiting for their event, or heard before Redis answered. */
  private readonly waiting = new Map<number, (reached: Reached) => void>();
  private readonly early = new Map<number, Reached>();
  /** Subscribed to the channel: what is announced from now on reaches this node. */
  private hearing = false;
  private readonly untilHearing: Array<() => void> = [];

  constructor(
    private readonly node: string, redis: Redis, private readonly core: PubSubCore, private readonly bus: ClusterBus,
    private readonly options: ResolvedOptions, private readonly log: Logger,
  ) {
    this.redis = redis as Scripted;
    this.redis.defineCommand('lindenKeepRetained', { numberOfKeys: 4, lua: KEEP_RETAINED });
    this.redis.defineCommand('lindenSnapshotRetained', { numberOfKeys: 2, lua: SNAPSHOT_RETAINED });
  }

  async publish(conn: Connection, f: PubFrame, ack: AckLevel, mid: string, payload: Payload): Promise<void> {
    try {
      await this.hearingChannel();
      const route = this.core.router.match(f.topic);
      const event = packr.pack([f.topic, mid, payload.packedData(), f.hdr ?? null, this.bus.dealRetained(f.topic, route.entries), this.node]);
      const bytes = payload.byteLength() + f.topic.length;
      let answer: [number, string];
      try {
        answer = await this.redis.lindenKeepRetained(
          RETAINED_TOPICS_KEY, RETAINED_SEQ_KEY, RETAINED_BYTES_KEY, retainedKey(f.topic),
          f.topic, mid, payload.packedData(), f.hdr === undefined ? '' : JSON.stringify(f.hdr), Date.now(), bytes,
          this.options.maxRetainedTopics, this.options.maxRetainedBytes, RETAINED_CHANNEL, isEmpty(payload) ? '1' : '0', event, 'transient',
        );
      } catch (err) {
        throw unavailable(err);
      }
      const [seq, limit] = answer;
      if (seq < 0) {
        throw new LindenError('RETAINED_FULL', `the cluster's retained messages are at ${limit}: "${f.topic.slice(0, 64)}" was not retained`, { limit });
      }
      const reached = await this.ownEvent(seq);
      if (ack === 'submission') sendSubmissionReceipt(conn, f.id!, mid, reached.receivers, reached.dropped);
    } catch (err) {
      // A will (server/wills.ts) is published for a connection that is gone: nobody to answer, the log says it.
      if (typeof conn.sendError === 'function') conn.sendError(err, f.id);
      else this.log.warn({ err, topic: f.topic.slice(0, 128) }, 'retained publish refused');
    }
  }

  async snapshot(conn: Connection, sub: Subscription): Promise<void> {
    // Kept from the turn that put the subscription in the router: no event can pass it unseen.
    const heard: Array<[number, OutboundMessage]> = [];
    this.pending.set(sub, heard);
    let reply: Buffer[];
    try {
      await this.hearingChannel();
      reply = await this.redis.lindenSnapshotRetainedBuffer(RETAINED_TOPICS_KEY, RETAINED_SEQ_KEY, sub.pattern);
    } catch (err) {
      throw err instanceof LindenError ? err : unavailable(err);
    } finally {
      this.pending.delete(sub);
    }
    if (conn.subs.get(sub.sid) !== sub) return; // gone meanwhile
    const seq = Number(reply[0]!.toString());
    const found: OutboundMessage[] = [];
    for (const r of snapshotRecords(reply)) {
      const payload = new Payload(r.data, msgpackCodec);
      if (!receivesRetained(conn, r.topic, payload)) continue;
      const hdr = r.hdr.length === 0 ? undefined : JSON.parse(r.hdr.toString()) as Headers;
      found.push(new OutboundMessage(r.topic, r.mid, payload, 1, hdr));
    }
    // In topic order, as on a broker of its own (Redis answers a set in no order).
    found.sort((x, y) => byCodeUnits(x.topic, y.topic));
    for (const message of found) conn.deliver(sub.sid, message, RETAINED_DELIVERY);
    for (const [n, message] of heard) if (n > seq) conn.deliver(sub.sid, message);
    // Events up to `seq` may still be on their way here: they are in the snapshot already.
    if (seq > this.heard) this.floors.set(sub, seq);
  }

  /** The node subscribed to the channel (again): what is announced from now on reaches it. */
  listened(): void {
    // Nothing missed is replayed, and a Redis that restarted empty counts from 1 again: what was
    // heard before says nothing of what comes now.
    this.heard = 0;
    this.floors.clear();
    this.early.clear();
    this.hearing = true;
    for (const resolve of this.untilHearing.splice(0)) resolve();
  }

  /** The subscription to the channel is gone (Redis away): events announced meanwhile do not reach this node. */
  deaf(): void {
    this.hearing = false;
  }

  /**
   * Resolves once this node hears the channel, waiting a little (a node just started, or Redis
   * just back); STORE_UNAVAILABLE after that, as without the channel a snapshot could miss events.
   */
  private async hearingChannel(): Promise<void> {
    if (this.hearing) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, HEARING_WAIT_MS);
      timer.unref();
      this.untilHearing.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (!this.hearing) throw new LindenError('STORE_UNAVAILABLE', 'cluster mode: this node does not hear the others (Redis away); retained messages wait until it does', { redis: 'not subscribed' });
  }

  /** The admin API's list, from Redis: the retained messages `pattern` matches, and the cluster's totals. */
  async list(pattern: string): Promise<{ topics: number; bytes: number; retained: RetainedView[] }> {
    try {
      const [reply, topics, bytes] = await Promise.all([
        this.redis.lindenSnapshotRetainedBuffer(RETAINED_TOPICS_KEY, RETAINED_SEQ_KEY, pattern),
        this.redis.scard(RETAINED_TOPICS_KEY),
        this.redis.get(RETAINED_BYTES_KEY),
      ]);
      const retained: RetainedView[] = snapshotRecords(reply).map(({ topic, mid, time, bytes, mode }) => ({ topic, mid, time, bytes, mode }));
      retained.sort((a, b) => byCodeUnits(a.topic, b.topic));
      return { topics, bytes: Number(bytes ?? 0), retained };
    } catch (err) {
      throw unavailable(err);
    }
  }

  /** An event on the channel: delivered to this node's subscribers, in sequence order. */
  received(buf: Buffer): void {
    const space = buf.indexOf(0x20);
    const seq = Number(buf.subarray(0, space).toString());
    let fields: [string, string, Uint8Array, Headers | null, string[], string];
    try {
      fields = packr.unpack(buf.subarray(space + 1)) as typeof fields;
    } catch (err) {
      this.log.warn({ err }, 'cluster: undecodable retained event ignored');
      return;
    }
    if (!(seq > this.heard)) return;
    if (this.early.size > 1_000) this.early.clear(); // own events whose publisher never heard back from Redis
    this.heard = seq;
    // A floor below this event is passed for good: no event at or under it can come any more.
    for (const [sub, floor] of this.floors) if (floor < seq) this.floors.delete(sub);
    const [topic, mid, data, hdr, groups, origin] = fields;
    const route = this.core.router.match(topic);
    let entries = route.entries.filter((e) => !isGroup(e) || groups.includes(`${this.node} ${groupKey(e.name, e.pattern)}`));
    const payload = new Payload(data, msgpackCodec);
    if (route.json && !payload.convertible()) entries = entries.filter((e) => !isGroup(e) && e.conn.codec.name !== 'json');
    const message = new OutboundMessage(topic, mid, payload, entries.length, hdr ?? undefined);
    if (this.pending.size > 0 || this.floors.size > 0) entries = entries.filter((e) => this.live(e, seq, message));
    const dropped = this.core.fanOut(message, entries, origin === this.node);
    if (origin === this.node) this.reached(seq, { receivers: entries.length, dropped });
  }

  /** Whether a subscription takes event `seq` now: not while its snapshot is read (kept for it), nor when its snapshot has it. */
  private live(entry: RouteEntry, seq: number, message: OutboundMessage): boolean {
    if (isGroup(entry)) return true;
    const heard = this.pending.get(entry);
    if (heard) {
      heard.push([seq, message]);
      return false;
    }
    const floor = this.floors.get(entry);
    return floor === undefined || seq > floor;
  }

  private reached(seq: number, reached: Reached): void {
    const waiter = this.waiting.get(seq);
    if (waiter) {
      this.waiting.delete(seq);
      waiter(reached);
    } else {
      this.early.set(seq, reached);
    }
  }

  /** Resolves once this node heard its own event `seq` (at most OWN_EVENT_WAIT_MS: then it reached nobody here). */
  private ownEvent(seq: number): Promise<Reached> {
    const early = this.early.get(seq);
    if (early) {
      this.early.delete(seq);
      return Promise.resolve(early);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(seq);
        resolve({ receivers: 0, dropped: undefined });
      }, OWN_EVENT_WAIT_MS);
      timer.unref();
      this.waiting.set(seq, (reached) => {
        clearTimeout(timer);
        resolve(reached);
      });
    });
  }
}

/** A retained message as SNAPSHOT_RETAINED answers it (retained-scripts.ts). */
interface SnapshotRecord extends RetainedView {
  /** MessagePack bytes. */
  data: Buffer;
  /** JSON of its headers, or empty when it has none. */
  hdr: Buffer;
}

/** The records of a SNAPSHOT_RETAINED reply: seven fields each, after the sequence number. */
function snapshotRecords(reply: Buffer[]): SnapshotRecord[] {
  const records: SnapshotRecord[] = [];
  for (let i = 1; i + 6 < reply.length + 1; i += 7) {
    records.push({
      topic: reply[i]!.toString(), mid: reply[i + 1]!.toString(), data: reply[i + 2]!, hdr: reply[i + 3]!,
      time: Number(reply[i + 4]!.toString()), bytes: Number(reply[i + 5]!.toString()),
      mode: reply[i + 6]!.toString() === 'persistent' ? 'persistent' : 'transient',
    });
  }
  return records;
}
