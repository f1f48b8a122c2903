import type { Redis } from 'ioredis';
import { msgpackCodec } from '../../../protocol/codec.js';
import type { Connection, TagOwner } from '../../connection.js';
import { OutboundMessage } from '../../pubsub/outbound-message.js';
import { Payload } from '../../pubsub/payload.js';
import type { Consumer } from '../../pubsub/durable/consumer.js';
import type { QueueDefinition } from './queue-directory.js';
import { decodeEntry, type StreamMessage } from './stream-entry.js';
import { GROUP, streamKey } from './redis-keys.js';
import { ACK } from './stream-scripts.js';
import { QUEUE_DEFAULTS } from '../../pubsub/durable/queue-records.js';
import { disconnectRedis, readyWithin } from '../redis-target.js';

interface InFlight {
  readonly id: string;
  readonly message: StreamMessage;
  readonly consumer: Consumer;
  readonly tag: number;
  /** Deliveries so far, as the consumer group's pending list counts them. */
  readonly dc: number;
  since: number;
}

export interface StreamQueueHost {
  /** This node's consumer name in every group. */
  readonly node: string;
  readonly redis: Redis;
  /** The queue's definition now (settings may change on any node). */
  definition(name: string): QueueDefinition | undefined;
  /** Moves the entry to `<name>.dlq` (stream-scripts.ts DEAD_LETTER). */
  deadLetter(queue: string, id: string, message: StreamMessage): void;
  /** A publisher waiting for the message (its `origin`) may count this stage (receipt-watches.ts). */
  event(queue: string, message: StreamMessage, e: { kind: 'delivered' } | { kind: 'processed' } | { kind: 'lost' }): void;
  failed(err: unknown, doing: string): void;
  /** The broker is draining: no delivery starts here. */
  readonly paused: boolean;
  /** While paused: this queue has nothing in flight here any more. */
  inFlightEnded(): void;
}

/**
 * A queue's side on one node, while the node has consumers of it: reads new entries of the
 * stream as this node's consumer in the group (XREADGROUP, as many as its consumers have room
 * for under maxInFlight), hands them to its consumers round-robin, and acks (XACK, XDEL) what
 * they ack. Redelivery is the group's pending list: an entry not acked within ackWait (a nack,
 * a consumer gone, a node killed) is claimed by whichever node sweeps first (stream-sweep.ts).
 */
export class StreamQueue implements TagOwner {
  readonly key: string;
  readonly consumers: Consumer[] = [];
  readonly inFlight = new Map<number, InFlight>();
  /** The index in `inFlight` of each entry id held here. */
  private readonly held = new Map<string, number>();
  private nextIndex = 1;
  private next = 0;
  private stopped = false;
  private wake: (() => void) | undefined;
  readonly stats = { delivered: 0, acked: 0, redelivered: 0, expired: 0 };
  private lastConfig: QueueDefinition['config'] = QUEUE_DEFAULTS;
  /** Entries nacked with a delay longer than ackWait, held pending by this node until it is nearly over. */
  private readonly parked = new Map<string, { due: number; dc: number; touched: number }>();

  constructor(readonly name: string, private readonly host: StreamQueueHost, private readonly reader: Redis) {
    this.key = streamKey(name);
    void this.readLoop();
  }

  /** The queue's settings now; those it last had once it is deleted (until this node notices and stops it). */
  get config(): QueueDefinition['config'] {
    const def = this.host.definition(this.name);
    if (def) this.lastConfig = def.config;
    return this.lastConfig;
  }

  /** How many more deliveries this node's consumers take now. */
  room(): number {
    if (this.host.paused) return 0;
    let room = 0;
    for (const c of this.consumers) if (this.open(c)) room += Math.max(0, this.config.maxInFlight - c.inFlight);
    return room;
  }

  attach(conn: Connection, sid: number): Consumer {
    const consumer: Consumer = { conn, sid, inFlight: 0 };
    this.consumers.push(consumer);
    this.roomChanged();
    return consumer;
  }

  /** What the consumer held goes back to the group for redelivery; an unsubscribe (`clean`) does not count it as a delivery. */
  detach(consumer: Consumer, clean: boolean): void {
    const i = this.consumers.indexOf(consumer);
    if (i === -1) return;
    this.consumers.splice(i, 1);
    for (const [index, f] of this.inFlight) {
      if (f.consumer !== consumer) continue;
      consumer.conn.releaseTag(f.tag);
      this.settle(index);
      this.release(f.id, 0, clean ? f.dc - 1 : f.dc);
    }
    this.roomChanged();
  }

  /** The queue was deleted: every delivery here ends, its consumers are the caller's to tell. */
  end(): Consumer[] {
    const consumers = this.consumers.splice(0);
    for (const f of this.inFlight.values()) f.consumer.conn.releaseTag(f.tag);
    this.inFlight.clear();
    this.held.clear();
    return consumers;
  }

  /** Resolves once the reader's connection has ended. */
  stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    return disconnectRedis(this.reader);
  }

  /**
   * An entry this node's consumer in the group now holds (read, or claimed by the sweep with
   * its delivery count): to a consumer with room, to the dead letters past maxDeliveries, or
   * back to the group when no consumer here takes it any more.
   */
  hand(id: string, message: StreamMessage, dc: number): void {
    // Claimed while a consumer here still holds it (Redis counted ackWait from before the hand-over
    // here): that delivery is over, as it would be a moment later by expireDeadlines().
    const before = this.held.get(id);
    if (before !== undefined) {
      const old = this.inFlight.get(before)!;
      old.consumer.conn.releaseTag(old.tag);
      this.settle(before);
    }
    if (message.expiresAt <= Date.now()) {
      this.stats.expired++;
      this.host.event(this.name, message, { kind: 'lost' });
      this.removeEntry(id);
      return;
    }
    if (dc > this.config.maxDeliveries && this.host.definition(this.name)?.pattern !== null) {
      this.host.deadLetter(this.name, id, message);
      return;
    }
    const consumer = this.pick();
    if (!consumer) {
      this.release(id, 0, dc - 1);
      return;
    }
    const out = new OutboundMessage(message.topic, message.mid, new Payload(message.data, msgpackCodec), 1, message.hdr);
    if (consumer.conn.codec.name === 'json' && !out.payload.convertible()) {
      // MessagePack no JSON consumer can read (as DurableQueue.deliver); a dead letter already has nowhere to go.
      if (this.host.definition(this.name)?.pattern === null) this.removeEntry(id);
      else this.host.deadLetter(this.name, id, message);
      return;
    }
    const index = this.nextIndex++;
    const tag = consumer.conn.trackTag(this, index);
    this.inFlight.set(index, { id, message, consumer, tag, dc, since: Date.now() });
    this.held.set(id, index);
    consumer.inFlight++;
    this.stats.delivered++;
    if (dc > 1) this.stats.redelivered++;
    consumer.conn.deliver(consumer.sid, out, { tag, ack: 'processing', dc }, true);
  }

  /**
   * Deliveries held here past ackWait end here: their entries are claimable in the group by
   * now, and the sweep that claims them (this node's or another's) delivers them again.
   */
  expireDeadlines(now: number): void {
    const ackWait = this.config.ackWait;
    for (const [index, f] of this.inFlight) {
      if (now - f.since < ackWait) continue;
      f.consumer.conn.releaseTag(f.tag);
      this.settle(index);
    }
  }

  // ---- TagOwner: the consumer's answers ----
  delivered(index: number): void {
    const f = this.inFlight.get(index);
    if (f) this.host.event(this.name, f.message, { kind: 'delivered' });
  }

  processed(index: number): void {
    const f = this.settle(index);
    if (!f) return;
    this.stats.acked++;
    ACK.run(this.host.redis, [this.key], [f.id]).then(
      () => this.host.event(this.name, f.message, { kind: 'processed' }),
      // Still pending in the group: redelivered after ackWait, so at least once holds.
      (err: unknown) => this.host.failed(err, 'ack'),
    );
  }

  rejected(index: number, _reason?: string, delay = 0): void {
    const f = this.settle(index);
    if (!f) return;
    if (f.dc >= this.config.maxDeliveries && this.host.definition(this.name)?.pattern !== null) this.host.deadLetter(this.name, f.id, f.message);
    else this.release(f.id, delay, f.dc);
  }

  lost(index: number): void {
    this.rejected(index);
  }

  working(index: number): void {
    const f = this.inFlight.get(index);
    if (!f) return;
    f.since = Date.now();
    // Claiming it again for ourselves resets its idle time, so no sweep takes it meanwhile.
    this.host.redis.xclaim(this.key, GROUP, this.host.node, 0, f.id, 'JUSTID').catch((err: unknown) => this.host.failed(err, 'working'));
  }

  // ---- internals ----
  /**
   * Run by each sweep: an entry parked here for a nack delay longer than ackWait is claimed again
   * by this node (idle 0) every half ackWait, so no sweep takes it, and handed back to the group
   * once what is left of its delay is within ackWait. If this node stops meanwhile, the entry is
   * claimable after ackWait: the delay is cut short, the message is not lost.
   */
  keepParked(now: number): void {
    const ackWait = this.config.ackWait;
    for (const [id, p] of this.parked) {
      const left = p.due - now;
      if (left <= ackWait) {
        this.parked.delete(id);
        this.release(id, Math.max(0, left), p.dc);
      } else if (now - p.touched >= ackWait / 2) {
        p.touched = now;
        this.host.redis.xclaim(this.key, GROUP, this.host.node, 0, id, 'IDLE', 0, 'RETRYCOUNT', p.dc, 'JUSTID').catch((err: unknown) => this.host.failed(err, 'park'));
      }
    }
  }

  /**
   * Hands the entry back to the group: it stays pending, with its idle time set so that it is
   * claimable (idle past ackWait) after `delay`, and its delivery count set to `dc`. Redis keeps
   * no idle time below zero, so a delay longer than ackWait is parked here first (keepParked()).
   */
  private release(id: string, delay: number, dc: number): void {
    if (delay > this.config.ackWait) {
      this.parked.set(id, { due: Date.now() + delay, dc, touched: 0 });
      this.keepParked(Date.now());
      return;
    }
    const idle = Math.max(0, this.config.ackWait - delay);
    this.host.redis.xclaim(this.key, GROUP, this.host.node, 0, id, 'IDLE', idle, 'RETRYCOUNT', Math.max(0, dc), 'JUSTID')
      .catch((err: unknown) => this.host.failed(err, 'release'));
    // A little after it is due: Redis's clock and this timer need not agree to the millisecond.
    this.onRelease?.(delay > 0 ? delay + 10 : 0);
  }

  private removeEntry(id: string): void {
    ACK.run(this.host.redis, [this.key], [id]).catch((err: unknown) => this.host.failed(err, 'remove'));
  }

  private settle(index: number): InFlight | undefined {
    const f = this.inFlight.get(index);
    if (!f) return undefined;
    this.inFlight.delete(index);
    if (this.held.get(f.id) === index) this.held.delete(f.id);
    f.consumer.inFlight--;
    if (this.inFlight.size === 0 && this.host.paused) this.host.inFlightEnded();
    this.roomChanged();
    return f;
  }

  /** Room freed: the reader may read again. */
  private roomChanged(): void {
    this.wake?.();
  }

  /** Set by the sweep (stream-sweep.ts): an entry given back is claimable in `delay` ms. */
  onRelease: ((delay: number) => void) | undefined;

  private open(c: Consumer): boolean {
    return c.conn.state === 'open' && !c.leaving;
  }

  private pick(): Consumer | undefined {
    if (this.host.paused) return undefined;
    const n = this.consumers.length;
    for (let i = 0; i < n; i++) {
      const c = this.consumers[(this.next + i) % n]!;
      if (c.inFlight >= this.config.maxInFlight || !this.open(c)) continue;
      this.next = (this.next + i + 1) % n;
      return c;
    }
    return undefined;
  }

  /** New entries, as many as there is room for, on a connection of its own (BLOCK holds it). */
  private async readLoop(): Promise<void> {
    while (!this.stopped) {
      const room = this.room();
      if (room === 0) {
        await new Promise<void>((resolve) => { this.wake = resolve; });
        this.wake = undefined;
        continue;
      }
      if (this.reader.status !== 'ready') {
        await readyWithin(this.reader, 1_000);
        continue;
      }
      let reply: [Buffer, [Buffer, Buffer[]][]][] | null;
      try {
        reply = (await this.reader.callBuffer('XREADGROUP', 'GROUP', GROUP, this.host.node, 'COUNT', Math.min(room, 256), 'BLOCK', 1_000, 'STREAMS', this.key, '>')) as typeof reply;
      } catch (err) {
        if (this.stopped) return;
        // The group is gone with Redis's data (a Redis without AOF restarted) while the queue is
        // still defined: made again, from the start of whatever the stream holds.
        if (String(err).includes('NOGROUP') && this.host.definition(this.name)) {
          await this.host.redis.xgroup('CREATE', this.key, GROUP, '0', 'MKSTREAM').catch(() => undefined);
        } else {
          this.host.failed(err, 'read');
          await pause(250);
        }
        continue;
      }
      for (const [, entries] of reply ?? []) {
        for (const [id, fields] of entries) {
          // An entry deleted between the read and its reply has no fields: nothing to deliver.
          if (!fields) continue;
          try {
            this.hand(id.toString(), decodeEntry(fields), 1);
          } catch (err) {
            this.host.failed(err, 'deliver'); // still pending: claimed again after ackWait
          }
        }
      }
    }
  }
}

/** Between attempts while Redis is unreachable. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
  });
}
