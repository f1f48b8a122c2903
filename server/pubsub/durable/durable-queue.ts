import { msgpackCodec } from '../../../protocol/codec.js';
import type { Consumer } from './consumer.js';
import type { Connection, TagOwner } from '../../connection.js';
import type { StoreWrite } from '../../store/store.js';
import { OutboundMessage } from '../outbound-message.js';
import { Payload } from '../payload.js';
import { deleteDeliveries, deleteExpiry, deleteMessage, expiryOfRecord, messagesPrefix, putDeliveries, queuedMessage, storeMessage, type QueuedMessage } from './queue-records.js';
import { deleteRange } from './range-delete.js';
import { oldestMessages, oldestPublishedAt, type MessageState, type QueueContents } from './queue-inspection.js';
import { QueueLine } from './queue-line.js';
import { DeadlineList, type Due } from './deadline-list.js';
import { NackDelays } from './nack-delays.js';

interface InFlight extends Due {
  readonly message: QueuedMessage;
  readonly consumer: Consumer;
  readonly tag: number;
}

/**
 * A durable subscription: the messages it holds (ready, in flight, waiting out a nack delay),
 * the consumers competing for them, acknowledgement deadlines, redelivery and dead-lettering.
 * Messages are handed out oldest first; an unacknowledged one returns to its place in line.
 * Where the ready ones are, memory or store, and the store writes, are QueueLine's.
 */
export class DurableQueue extends QueueLine implements TagOwner {
  // A shared empty map until a queue first delivers: an idle queue costs little (issue 21: many
  // small queues). Only deliver() adds, and it makes the queue its own.
  private inFlight: Map<number, InFlight> = NO_IN_FLIGHT;
  /** Messages waiting out a nack's delay (nack-delays.ts); made with the first. */
  private delays: NackDelays | undefined;
  /** Ack deadlines of the deliveries in flight; made with the first delivery. */
  private deadlines: DeadlineList<InFlight> | undefined;
  readonly consumers: Consumer[] = [];
  private next = 0;
  /** A dispatch() ended its slice: the next comes after the connections' flush. */
  private dispatchDue = false;

  /** Messages held in memory: the window, in flight, delayed, and backlog writes not yet on disk. */
  get heldCount(): number {
    return this.ready.size + this.inFlight.size + (this.delays?.size ?? 0);
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Where its messages are, for inspection (queue-inspection.ts): the window, then the head of the backlog. */
  private contents(n: number): QueueContents {
    const ready = this.ready.size >= n ? this.ready.values() : [...this.ready.values(), ...this.backlog.peek(n - this.ready.size)];
    return { ready, inFlight: this.inFlight.values(), delayed: this.delays?.values() ?? [] };
  }

  get oldestPublishedAt(): number | undefined {
    return oldestPublishedAt(this.contents(1));
  }

  /** The `n` messages first in line, wherever they are, for inspection. */
  oldest(n: number): { message: QueuedMessage; state: MessageState }[] {
    return oldestMessages(this.contents(n), n);
  }

  /** Why messages are not moving, or null. */
  stallReason(): string | null {
    if (this.readyCount === 0) return null;
    if (this.consumers.length === 0) return 'no consumers';
    if (this.consumers.every((c) => c.inFlight >= this.config.maxInFlight)) return 'all consumers at maxInFlight';
    return null;
  }

  /** Puts an admitted message in line: in memory, or in the backlog when the window is full; `written` is its store write. */
  enqueue(message: QueuedMessage, written: Promise<void> | undefined): void {
    if (message.seq < this.backlog.from || (this.backlog.count === 0 && this.ready.size < this.host.window)) {
      this.backlog.from = Math.max(this.backlog.from, message.seq + 1);
      this.toWindow(message);
    } else {
      this.backlog.append(message, written);
      if (Number.isFinite(message.expiresAt)) this.host.expiresInBacklog(message.expiresAt);
    }
    this.dispatch();
  }

  /**
   * A ttl ended: a message waiting in line or out a nack delay leaves now, so depth and limits
   * stop counting it. One in flight is not recalled: it leaves if it comes back (unacked).
   */
  expire(message: QueuedMessage): void {
    if (!this.delays?.cancel(message) && !this.ready.remove(message)) return;
    this.remove(message, 'expired');
  }

  /**
   * The ttl index (expiry-index.ts) says message `seq` expired at `at`. One in the backlog leaves
   * unread; one waiting in memory leaves as its ttl lease would make it (expire()); one in flight
   * leaves when it comes back. Returns the sweep's writes for it.
   */
  expireStored(seq: number, at: number): { writes: StoreWrite[]; stored?: () => void } {
    this.flushDeferred();
    const entry = deleteExpiry(at, this.name, seq);
    if (seq < this.backlog.from) {
      const waiting = this.delays?.get(seq) ?? this.ready.values().find((m) => m.seq === seq);
      if (!waiting) return { writes: [entry] };
      this.expire(waiting); // writes the deletions itself
      return { writes: [] };
    }
    const gone = this.backlog.expire(seq);
    if (!gone) return { writes: [entry] };
    this.count--;
    this.bytes -= gone.bytes;
    this.stats.expired++;
    gone.watch?.lost();
    const writes = [{ key: [...messagesPrefix(this.name), seq] }, entry, this.counters()];
    if (gone.counted) writes.push(deleteDeliveries(this.name, seq));
    // Until its deletion is stored, the backlog's reads skip it (Backlog.expiring).
    return { writes, stored: () => this.backlog.expired(seq) };
  }

  attach(conn: Connection, sid: number): Consumer {
    const consumer: Consumer = { conn, sid, inFlight: 0 };
    this.consumers.push(consumer);
    this.dispatch();
    return consumer;
  }

  /**
   * A consumer left: what it had not acked is redelivered. After an unsubscribe (`clean`) those
   * deliveries do not count toward maxDeliveries: a consumer taking a few and leaving must not
   * push the rest toward the dead-letter queue. A disconnect counts: it may be a crash.
   */
  detach(consumer: Consumer, clean = false): void {
    const i = this.consumers.indexOf(consumer);
    if (i === -1) return;
    this.consumers.splice(i, 1);
    for (const f of [...this.inFlight.values()]) {
      if (f.consumer !== consumer) continue;
      consumer.conn.releaseTag(f.tag);
      this.settle(f.message.seq);
      if (clean) {
        f.message.deliveries--;
        this.persist([putDeliveries(this.name, f.message, this.impliedDeliveries(f.message.seq))], true);
      }
      this.unacked(f, 0);
    }
    this.dispatch();
  }

  /**
   * Hands ready messages to consumers with room, round-robin, DISPATCH_SLICE at a time: a
   * consumer attaching to a backlog has room for maxInFlight, and writing them all in one turn
   * held its first message back until the last was written (issue 21: first delivery within
   * 100 ms of the `sub`). The rest follow once the connections have flushed the slice.
   */
  dispatch(): void {
    if (this.host.paused || this.dispatchDue) return;
    const now = Date.now();
    let slice = DISPATCH_SLICE;
    while (this.readyCount > 0) {
      const consumer = this.pick();
      if (!consumer) return;
      if (slice-- === 0) {
        this.dispatchDue = true;
        setImmediate(() => {
          this.dispatchDue = false;
          this.dispatch();
        });
        return;
      }
      const message = this.nextReady();
      if (!message) return;
      if (message.expiresAt <= now) {
        this.remove(message, 'expired');
        continue;
      }
      this.deliver(consumer, message);
    }
  }

  // ---- TagOwner: the consumer's answers ----
  /** The consumer's rcv: a publisher waiting for delivery counts this queue as reached. */
  delivered(seq: number): void {
    this.inFlight.get(seq)?.message.watch?.delivered();
  }

  processed(seq: number): void {
    const f = this.settle(seq);
    if (!f) return;
    this.stats.acked++;
    this.remove(f.message, 'acked');
    this.dispatch();
  }

  rejected(seq: number, _reason?: string, delay = 0): void {
    const f = this.settle(seq);
    if (f) this.unacked(f, delay);
    this.dispatch();
  }

  lost(seq: number): void {
    const f = this.settle(seq);
    if (f) this.unacked(f, 0);
    this.dispatch();
  }

  working(seq: number): void {
    const f = this.inFlight.get(seq);
    if (!f) return;
    this.deadlines!.remove(f);
    this.deadlines!.add(f, Date.now() + this.config.ackWait);
  }

  /** Ends every timer; the queue's messages stay in the store. */
  stop(): void {
    this.deadlines?.stop();
    this.delays?.stop();
  }

  /**
   * Drops every message (the queue is deleted): returns how many, the store writes that forget
   * those in memory, and the deletion of the backlog on disk (issued in pieces after the writes).
   */
  purge(): { dropped: number; writes: StoreWrite[]; deleteBacklog: () => Promise<void> | undefined } {
    this.flushDeferred();
    const writes: StoreWrite[] = [];
    const dropped = this.count;
    const backlog = this.backlog.clear(this.host.nextSeq);
    for (const w of backlog.watches) w.lost();
    for (const m of backlog.pending) writes.push(...deleteMessage(this.name, m, this.impliedDeliveries(m.seq)));
    for (const seq of backlog.counted) writes.push(deleteDeliveries(this.name, seq));
    const below = this.backlog.from;
    const deleteBacklog = () => (backlog.count > backlog.pending.length
      ? deleteRange(this.host.store, messagesPrefix(this.name), backlog.from, below, (entries) => ({ writes: entries.flatMap(([k, v]) => expiryOfRecord(this.name, k, v)) }))
      : undefined);
    const all = [...this.ready.clear(), ...[...this.inFlight.values()].map((f) => f.message), ...(this.delays?.clear() ?? [])];
    for (const f of this.inFlight.values()) {
      this.deadlines!.remove(f);
      f.consumer.conn.releaseTag(f.tag);
      f.consumer.inFlight--;
    }
    this.inFlight.clear();
    if (this.host.paused) this.host.inFlightEnded();
    for (const m of all) {
      this.host.forgetExpiry(m);
      m.watch?.lost();
      writes.push(...deleteMessage(this.name, m, this.impliedDeliveries(m.seq)));
    }
    this.count = 0;
    this.bytes = 0;
    return { dropped, writes, deleteBacklog };
  }

  private pick(): Consumer | undefined {
    const n = this.consumers.length;
    for (let i = 0; i < n; i++) {
      const c = this.consumers[(this.next + i) % n]!;
      if (c.inFlight >= this.config.maxInFlight || c.conn.state !== 'open' || c.leaving) continue;
      // A consumer over its pending bytes gets nothing more until its socket drains: the messages
      // wait here, stored, instead of in its outbound buffer, and go to consumers that read (§11).
      if (c.conn.isCongested(true)) {
        this.dispatchWhenWritable(c);
        continue;
      }
      this.next = (this.next + i + 1) % n;
      return c;
    }
    return undefined;
  }

  private dispatchWhenWritable(c: Consumer): void {
    if (c.awaitingDrain) return;
    c.awaitingDrain = true;
    c.conn.whenSocketTakes(() => {
      c.awaitingDrain = false;
      this.dispatch();
    });
  }

  private deliver(consumer: Consumer, message: QueuedMessage): void {
    const out = new OutboundMessage(message.topic, message.mid, new Payload(message.data, msgpackCodec), 1, message.hdr);
    if (consumer.conn.codec.name === 'json' && !out.payload.convertible()) {
      // MessagePack no JSON consumer can read: no consumer of this queue ever will. Checking
      // every persistent publish instead would cost the common, all-MessagePack case.
      if (this.pattern !== null) this.deadLetter(message);
      else this.remove(message, 'undeliverable'); // already dead-lettered: nowhere left to go
      return;
    }
    message.deliveries++;
    this.stats.delivered++;
    if (message.deliveries > 1) this.stats.redelivered++;
    const tag = consumer.conn.trackTag(this, message.seq);
    const f: InFlight = { message, consumer, tag, at: 0, prev: undefined, next: undefined, listed: false };
    (this.deadlines ??= new DeadlineList((due) => this.deadlinePassed(due))).add(f, Date.now() + this.config.ackWait);
    if (this.inFlight === NO_IN_FLIGHT) this.inFlight = new Map();
    this.inFlight.set(message.seq, f);
    consumer.inFlight++;
    // The delivery count must survive a crash (maxDeliveries holds over restarts); nobody waits for this write.
    if (message.deliveries === 1 && message.seq >= this.deliveredBelow && this.pattern !== null) {
      this.deliveredBelow = message.seq + 1;
      this.persist([], true); // the counters carry it
    } else {
      this.persist([putDeliveries(this.name, message, this.impliedDeliveries(message.seq))], true);
    }
    consumer.conn.deliver(consumer.sid, out, { tag, ack: 'processing', dc: message.deliveries }, true);
  }

  /** No ack within ackWait: the message goes back in line (or to the dead letters). */
  private deadlinePassed(f: InFlight): void {
    if (this.inFlight.get(f.message.seq) !== f) return;
    f.consumer.conn.releaseTag(f.tag);
    this.settle(f.message.seq);
    this.unacked(f, 0);
    this.dispatch();
  }

  private settle(seq: number): InFlight | undefined {
    const f = this.inFlight.get(seq);
    if (!f) return undefined;
    this.inFlight.delete(seq);
    this.deadlines!.remove(f);
    f.consumer.inFlight--;
    if (this.inFlight.size === 0 && this.host.paused) this.host.inFlightEnded();
    return f;
  }

  /**
   * Back in line (after `delay`), or to the dead-letter queue once maxDeliveries is reached. One
   * whose ttl ended while it was in flight leaves instead: its expiry found it away.
   */
  private unacked(f: InFlight, delay: number): void {
    this.inFlight.delete(f.message.seq);
    const m = f.message;
    if (m.expiresAt <= Date.now()) this.remove(m, 'expired');
    else if (m.deliveries >= this.config.maxDeliveries && this.pattern !== null) this.deadLetter(m);
    else if (delay <= 0) this.ready.push(m);
    else (this.delays ??= new NackDelays((back) => this.delayEnded(back))).add(m, delay);
  }

  /** Back in line after a nack's delay; its expiry ends the wait early (expire()). */
  private delayEnded(m: QueuedMessage): void {
    if (m.expiresAt <= Date.now()) this.remove(m, 'expired');
    else this.ready.push(m);
    this.dispatch();
  }

  private deadLetter(m: QueuedMessage): void {
    const dlq = this.host.deadLetters(this);
    this.forget(m);
    this.stats.deadLettered++;
    m.watch?.rejected('dead-lettered');
    const moved = queuedMessage(m.seq, m.mid, m.topic, m.data, m.hdr, m.publishedAt, m.expiresAt, 0, undefined);
    dlq.admit(moved);
    // One transaction: the message is in exactly one of the two queues whatever happens.
    const written = this.persist([...deleteMessage(this.name, m, this.impliedDeliveries(m.seq)), ...storeMessage(dlq.name, moved), this.counters(), dlq.counters()], false, dlq);
    dlq.enqueue(moved, written);
  }

  /** `undeliverable`: a dead letter no consumer of this queue can read (counted as dropped). */
  private remove(m: QueuedMessage, why: 'acked' | 'expired' | 'undeliverable'): void {
    this.forget(m);
    if (why === 'expired') this.stats.expired++;
    else if (why === 'undeliverable') this.stats.dropped++;
    const durable = this.persist([...deleteMessage(this.name, m, this.impliedDeliveries(m.seq))], true);
    const watch = m.watch;
    if (!watch) return;
    if (why !== 'acked') watch.lost();
    // A publisher told 'processed' must not see the message come back after a crash.
    else if (!durable) watch.processed();
    else durable.then(() => watch.processed(), () => watch.lost());
  }

  protected outOfLine(): QueuedMessage[] {
    return [...[...this.inFlight.values()].map((f) => f.message), ...(this.delays?.messages() ?? [])];
  }
}

/** Deliveries one dispatch() makes before it lets the connections write them (setImmediate runs after their flush). */
const DISPATCH_SLICE = 64;

const NO_IN_FLIGHT = new Map<number, InFlight>();
