import { msgpackCodec } from '../../../protocol/codec.js';
import type { Consumer } from './consumer.js';
import type { Connection, TagOwner } from '../../connection.js';
import type { Store, StoreWrite } from '../../store/store.js';
import { OutboundMessage } from '../outbound-message.js';
import { Payload } from '../payload.js';
import {
  deleteDeliveries, deleteExpiry, deleteMessage, deliveriesPrefix, expiryOfRecord, messagesPrefix, putCounters, putDeliveries, queuedMessage, storeMessage,
  type QueueConfig, type QueueCounters, type QueuedMessage,
} from './queue-records.js';
import { Backlog } from './backlog.js';
import { deleteRange } from './range-delete.js';
import { DeferredWrites } from './deferred-writes.js';
import { firstBySeq } from '../../first-by-seq.js';
import { oldestMessages, oldestPublishedAt, type MessageState, type QueueContents } from './queue-inspection.js';
import { ReadyLine } from './ready-line.js';

interface Delayed {
  readonly message: QueuedMessage;
  readonly timer: ReturnType<typeof setTimeout>;
}

interface InFlight {
  readonly message: QueuedMessage;
  readonly consumer: Consumer;
  readonly tag: number;
  timer: ReturnType<typeof setTimeout>;
}

export interface QueueHost {
  readonly store: Store;
  /** How many ready messages a queue keeps in memory; the rest wait in the store (Infinity: all in memory). */
  readonly window: number;
  /** The seq the next new message will get: everything the queue holds now is below it. */
  readonly nextSeq: number;
  /** Calls expire(message) on this queue when the message's ttl ends. */
  expireAt(queue: DurableQueue, message: QueuedMessage): void;
  /** A message with a ttl ending at `at` went to the backlog: the ttl index is to be swept by then. */
  expiresInBacklog(at: number): void;
  /** The message left the queue: its ttl no longer matters, and must not keep it reachable. */
  forgetExpiry(message: QueuedMessage): void;
  /** The dead-letter queue `<name>.dlq`, created on first use. */
  deadLetters(of: DurableQueue): DurableQueue;
  /** A store write failed: the broker can no longer keep its promises for this data. */
  storeFailed(err: unknown): void;
  /** The broker is draining: no delivery starts; what is not in flight stays stored for after the restart. */
  readonly paused: boolean;
  /** While paused: this queue has nothing in flight any more. */
  inFlightEnded(): void;
}

/**
 * A durable subscription: the messages it holds (ready, in flight, waiting out a nack delay),
 * the consumers competing for them, acknowledgement deadlines, redelivery and dead-lettering.
 * Messages are handed out oldest first; an unacknowledged one returns to its place in line.
 *
 * Ready messages are in memory up to the host's window (`ready`, topped up from the store as it
 * empties) and in the store beyond it (`backlog`). `count` and `bytes` cover everything the queue
 * holds and are stored (putCounters) in every write that changes them, so a restart reads them
 * and the head of the line instead of every message.
 */
export class DurableQueue implements TagOwner {
  private readonly ready = new ReadyLine();
  private readonly backlog: Backlog;
  /** Ready messages being deleted from the store by a purge, still counted in count and bytes until their deletes are issued. */
  private purging = NOT_PURGING;
  private deferredWrites: DeferredWrites | undefined;
  // Shared empty maps until a queue first delivers or delays: an idle queue costs little (issue
  // 21: many small queues). Only deliver() and delay() add, and they make the queue its own.
  private inFlight: Map<number, InFlight> = NO_IN_FLIGHT;
  private delayed: Map<number, Delayed> = NO_DELAYED;
  readonly consumers: Consumer[] = [];
  private next = 0;
  /** A dispatch() ended its slice: the next comes after the connections' flush. */
  private dispatchDue = false;
  count = 0;
  bytes = 0;
  /**
   * Every message below this seq was delivered once, unless its count record (['n', name, seq])
   * says otherwise; stored with the counters. A queue hands out its first deliveries in seq
   * order, so one number stands for them all and a delivery costs no write of its own: only a
   * redelivery, or a count taken back, writes a record (issue 21: drain rate). A dead-letter
   * queue takes old seqs in any order, so it keeps 0 and a record for every delivered message.
   */
  private deliveredBelow = 0;
  /** `purged`: ready messages an operator dropped; `retried`: messages taken back from `<name>.dlq` (admin ops). */
  readonly stats = { published: 0, delivered: 0, acked: 0, redelivered: 0, deadLettered: 0, expired: 0, dropped: 0, purged: 0, retried: 0 };

  constructor(
    readonly name: string,
    readonly pattern: string | null,
    public config: QueueConfig,
    private readonly host: QueueHost,
    readonly createdAt = Date.now(),
    /** The seq of the queue's first message: older records under its name are a deleted namesake's. */
    readonly firstSeq = host.nextSeq,
  ) {
    this.backlog = new Backlog(host.store, name, firstSeq, this);
  }

  get readyCount(): number {
    return this.ready.size + this.backlog.count;
  }

  /** Messages held in memory: the window, in flight, delayed, and backlog writes not yet on disk. */
  get heldCount(): number {
    return this.ready.size + this.inFlight.size + this.delayed.size;
  }

  /** Delivery counts and deletions, stored together once per tick (on a store on disk). */
  get deferred(): DeferredWrites {
    return (this.deferredWrites ??= new DeferredWrites(() => this.flushDeferred()));
  }

  /** The deferred writes, to go first in a write about to be issued (DeferredWrites.take). */
  takeDeferred(): ReturnType<DeferredWrites['take']> {
    return this.deferredWrites?.take();
  }

  /**
   * Issues the deferred writes now, with the counters: before a change whose write does not take
   * them (takeDeferred()) but whose counters would count them.
   */
  flushDeferred(): void {
    if (this.deferredWrites?.pending) this.persist([this.counters()]);
  }

  /** The queue's counters as the store keeps them, to go in every write that changes them. */
  counters(): StoreWrite {
    const c: QueueCounters = { count: this.count, bytes: this.bytes };
    if (this.deliveredBelow > 0) c.delivered = this.deliveredBelow;
    return putCounters(this.name, c);
  }

  /** The delivery count of message `seq` when it has no count record (deliveredBelow). */
  impliedDeliveries(seq: number): number {
    return seq < this.deliveredBelow ? 1 : 0;
  }

  /** For the backlog: a message whose write resolved after its ttl ended. */
  expiresInBacklog(at: number): void {
    this.host.expiresInBacklog(at);
  }

  /**
   * At start: the counters and the head of the line from the store, the rest left there. Returns
   * the highest seq the queue holds (-1 for none). A store written before counters existed is
   * counted, once per start until the queue's next write stores them.
   */
  restore(stored: QueueCounters | undefined): number {
    const store = this.host.store;
    const prefix = messagesPrefix(this.name);
    if (!stored) {
      stored = { count: 0, bytes: 0 };
      for (const [, value] of store.range(prefix, { from: [this.firstSeq] })) {
        stored.count++;
        stored.bytes += (value as { data: Uint8Array }).data.length;
      }
    }
    this.count = stored.count;
    this.bytes = stored.bytes;
    this.deliveredBelow = stored.delivered ?? 0;
    this.backlog.count = stored.count;
    this.backlog.bytes = stored.bytes;
    const counts = store.range(deliveriesPrefix(this.name), { from: [this.firstSeq] });
    if (counts.length > 0) this.backlog.deliveries = new Map(counts.map(([key, n]) => [key[2] as number, n as number]));
    this.refill();
    const last = store.range(prefix, { reverse: true, limit: 1 })[0];
    return last && typeof last[0][2] === 'number' ? last[0][2] : -1;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Where its messages are, for inspection (queue-inspection.ts): the window, then the head of the backlog. */
  private contents(n: number): QueueContents {
    const ready = this.ready.size >= n ? this.ready.values() : [...this.ready.values(), ...this.backlog.peek(n - this.ready.size)];
    return { ready, inFlight: this.inFlight.values(), delayed: this.delayed.values() };
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

  /** Whether a message of `bytes` fits, counting what drop-oldest may drop: ready messages, never one in flight. */
  canTake(bytes: number): boolean {
    const fits = (count: number, size: number) => count + 1 <= this.config.maxMessages && size + bytes <= this.config.maxBytes;
    if (fits(this.count, this.bytes)) return true;
    if (this.config.overflow === 'reject') return false;
    return fits(this.count - this.readyCount - this.purging.count, this.bytes - this.ready.bytes - this.backlog.bytes - this.purging.bytes);
  }

  /** Drops the oldest ready messages until one of `bytes` fits (after canTake); returns the store writes. */
  makeRoom(bytes: number): StoreWrite[] {
    const writes: StoreWrite[] = [];
    while (this.count + 1 > this.config.maxMessages || this.bytes + bytes > this.config.maxBytes) {
      const oldest = this.nextReady();
      if (!oldest) break;
      this.forget(oldest);
      oldest.watch?.lost();
      this.stats.dropped++;
      writes.push(...deleteMessage(this.name, oldest, this.impliedDeliveries(oldest.seq)));
    }
    return writes;
  }

  /**
   * Counts a message the caller is about to store here, before it takes counters() for that
   * write; enqueue() puts it in line once the write is issued. Taken back from the dead-letter
   * queue, it is not counted as published.
   */
  admit(message: QueuedMessage, how: 'published' | 'retried' = 'published'): void {
    this.count++;
    this.bytes += message.data.length;
    if (how === 'published') this.stats.published++;
    else if (how === 'retried') this.stats.retried++;
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

  /** A message whose store write failed leaves, unless a consumer already has it; counted as dropped. */
  withdraw(message: QueuedMessage): void {
    if (!this.ready.remove(message) && !this.backlog.withdraw(message)) return;
    this.forget(message);
    this.stats.dropped++;
    message.watch?.lost();
  }

  /**
   * A ttl ended: a message waiting in line or out a nack delay leaves now, so depth and limits
   * stop counting it. One in flight is not recalled: it leaves if it comes back (unacked).
   */
  expire(message: QueuedMessage): void {
    const delayed = this.delayed.get(message.seq);
    if (delayed?.message === message) {
      clearTimeout(delayed.timer);
      this.delayed.delete(message.seq);
    } else if (!this.ready.remove(message)) {
      return;
    }
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
      const waiting = this.delayed.get(seq)?.message ?? this.ready.values().find((m) => m.seq === seq);
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
    clearTimeout(f.timer);
    f.timer = this.deadline(f);
  }

  /** Ends every timer; the queue's messages stay in the store. */
  stop(): void {
    for (const f of this.inFlight.values()) clearTimeout(f.timer);
    for (const d of this.delayed.values()) clearTimeout(d.timer);
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
    const all = [...this.ready.clear(), ...[...this.inFlight.values()].map((f) => f.message), ...[...this.delayed.values()].map((d) => d.message)];
    for (const f of this.inFlight.values()) {
      clearTimeout(f.timer);
      f.consumer.conn.releaseTag(f.tag);
      f.consumer.inFlight--;
    }
    for (const d of this.delayed.values()) clearTimeout(d.timer);
    this.inFlight.clear();
    this.delayed.clear();
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

  // ---- admin operations (server/handlers/admin.ts) ----
  /** Whether `count` more messages of `bytes` in all fit the limits without dropping anything. */
  fits(count: number, bytes: number): boolean {
    return this.count + count <= this.config.maxMessages && this.bytes + bytes <= this.config.maxBytes;
  }

  /**
   * Drops the ready messages, leaving those in flight or waiting out a nack delay: their consumers
   * are working on them. Returns how many went and `durable`, which resolves once their deletion
   * is stored: the window's at once, the backlog's on disk in pieces, each with the counters as
   * they then are, so a crash half way leaves the rest counted and in line.
   */
  purgeReady(): { purged: number; durable: Promise<void> | undefined } {
    const writes: StoreWrite[] = [];
    const gone = this.ready.clear();
    for (const m of gone) {
      this.forget(m);
      m.watch?.lost();
      writes.push(...deleteMessage(this.name, m, this.impliedDeliveries(m.seq)));
    }
    const backlog = this.backlog.clear(this.host.nextSeq);
    for (const w of backlog.watches) w.lost();
    for (const m of backlog.pending) writes.push(...deleteMessage(this.name, m, this.impliedDeliveries(m.seq)));
    for (const seq of backlog.counted) writes.push(deleteDeliveries(this.name, seq));
    const pendingBytes = backlog.pending.reduce((n, m) => n + m.data.length, 0);
    this.count -= backlog.pending.length;
    this.bytes -= pendingBytes;
    this.purging = { count: backlog.count - backlog.pending.length, bytes: backlog.bytes - pendingBytes };
    const purged = gone.length + backlog.count;
    this.stats.purged += purged;
    if (writes.length > 0) writes.push(this.counters());
    const first = writes.length > 0 ? this.persist(writes) : undefined;
    if (this.purging.count === 0) return { purged, durable: first };
    // Messages that joined in memory since (a dead letter keeps its old seq) are not the purge's.
    const kept = (): Set<number> => new Set([...this.ready.values(), ...[...this.inFlight.values()].map((f) => f.message), ...[...this.delayed.values()].map((d) => d.message)].map((m) => m.seq));
    const rest = deleteRange(this.host.store, messagesPrefix(this.name), backlog.from, this.backlog.from, (deleted) => {
      this.flushDeferred();
      const inMemory = kept();
      const mine = deleted.filter(([key]) => !inMemory.has(key[2] as number));
      for (const [, value] of mine) {
        const bytes = (value as { data: Uint8Array }).data.length;
        this.count--;
        this.bytes -= bytes;
        this.purging.count--;
        this.purging.bytes -= bytes;
      }
      return { keep: inMemory, writes: [...mine.flatMap(([k, v]) => expiryOfRecord(this.name, k, v)), this.counters()] };
    });
    return { purged, durable: Promise.all([first, rest]).then(() => undefined) };
  }

  /**
   * Takes ready messages out, oldest first, while `take` accepts the next one; the caller stores
   * them elsewhere and deletes them here in one write (dead-letter retry).
   */
  takeReady(take: (m: QueuedMessage) => boolean): QueuedMessage[] {
    const out: QueuedMessage[] = [];
    for (let m = this.peekReady(1)[0]; m && take(m); m = this.peekReady(1)[0]) {
      this.nextReady();
      this.forget(m);
      out.push(m);
    }
    return out;
  }

  /** The first `n` ready messages in line, for `peek`; nothing changes. */
  peekReady(n: number): QueuedMessage[] {
    const inMemory = firstBySeq(this.ready.values(), n);
    return inMemory.length >= n ? inMemory : [...inMemory, ...this.backlog.peek(n - inMemory.length)];
  }

  // ---- internals ----
  /** The first ready message, out of line; the window is topped up from the backlog once half empty. */
  private nextReady(): QueuedMessage | undefined {
    if (this.ready.size <= this.host.window / 2 && this.backlog.count > 0) this.refill();
    return this.ready.pop();
  }

  /** Moves the head of the backlog into the window, up to the window's size. */
  private refill(): void {
    const room = Math.min(this.host.window, 65_536) - this.ready.size;
    for (const m of this.backlog.take(room)) this.toWindow(m);
  }

  private toWindow(message: QueuedMessage): void {
    this.ready.push(message);
    if (Number.isFinite(message.expiresAt)) this.host.expireAt(this, message);
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
    if (consumer.conn.codec.name === 'json' && !convertible(out.payload)) {
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
    const f: InFlight = { message, consumer, tag, timer: undefined as never };
    f.timer = this.deadline(f);
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

  private deadline(f: InFlight): ReturnType<typeof setTimeout> {
    return unref(setTimeout(() => {
      if (this.inFlight.get(f.message.seq) !== f) return;
      f.consumer.conn.releaseTag(f.tag);
      this.settle(f.message.seq);
      this.unacked(f, 0);
      this.dispatch();
    }, this.config.ackWait));
  }

  private settle(seq: number): InFlight | undefined {
    const f = this.inFlight.get(seq);
    if (!f) return undefined;
    this.inFlight.delete(seq);
    clearTimeout(f.timer);
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
    else this.delay(m, delay);
  }

  /** Out of line for `delay` ms; its expiry ends the wait early (expire()). */
  private delay(m: QueuedMessage, delay: number): void {
    const timer = unref(setTimeout(() => {
      this.delayed.delete(m.seq);
      if (m.expiresAt <= Date.now()) this.remove(m, 'expired');
      else this.ready.push(m);
      this.dispatch();
    }, delay));
    if (this.delayed === NO_DELAYED) this.delayed = new Map();
    this.delayed.set(m.seq, { message: m, timer });
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

  private forget(m: QueuedMessage): void {
    this.count--;
    this.bytes -= m.data.length;
    this.host.forgetExpiry(m);
  }

  /**
   * Issues `writes` after this queue's deferred ones (and those of `others` the writes touch), in
   * one transaction; `later` defers them instead, on a store on disk, to the end of the tick.
   * Counters in `writes` must be taken after every change the deferred writes stand for.
   */
  private persist(writes: StoreWrite[], later = false, ...others: DurableQueue[]): Promise<void> | undefined {
    if (later && this.host.store.durable) return this.deferred.add(writes);
    const taken = [this, ...others].map((q) => q.takeDeferred());
    const all = taken.some((t) => t) ? [...taken.flatMap((t) => t?.writes ?? []), ...writes] : writes;
    if (later) all.push(this.counters());
    let durable: Promise<void> | undefined;
    try {
      durable = this.host.store.write(all);
    } catch (err) {
      // A closed store (deferred writes flushed after a stop): reported like a failed commit.
      durable = Promise.reject(err);
    }
    durable?.catch((err: unknown) => this.host.storeFailed(err));
    for (const t of taken) t?.issued(durable);
    return durable;
  }
}

/** Deliveries one dispatch() makes before it lets the connections write them (setImmediate runs after their flush). */
const DISPATCH_SLICE = 64;

const NO_IN_FLIGHT = new Map<number, InFlight>();
const NO_DELAYED = new Map<number, Delayed>();

/** A queue not purging shares this one; a purge gets its own. */
const NOT_PURGING: { count: number; bytes: number } = Object.freeze({ count: 0, bytes: 0 });

/** Deadlines must not keep a stopping broker's process alive. */
function unref(timer: ReturnType<typeof setTimeout>): ReturnType<typeof setTimeout> {
  timer.unref();
  return timer;
}

function convertible(payload: Payload): boolean {
  try {
    payload.jsonData();
    return true;
  } catch {
    return false;
  }
}
