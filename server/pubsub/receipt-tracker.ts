import type { ReceiptFrame, ReceiverRef } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import type { Lease, LeaseHeap } from '../../protocol/lease-heap.js';
import type { Payload } from './payload.js';

type Outcome = 'processed' | 'rejected' | 'lost';

interface Receiver {
  /** Absent for a durable subscription, which answers through its queue rather than a tag. */
  conn?: Connection;
  sid?: number;
  group?: string;
  queue?: string;
  /** A receiver on another node of a cluster, as that node named it. */
  remote?: ReceiverRef;
  tag: number;
  delivered: boolean;
  outcome?: Outcome;
  reason?: string;
  /** Reached the stage the publisher waits for, or can no longer reach it. */
  settled: boolean;
}

/**
 * Follows one publish that waits for `delivery` or `processing` until every receiver matched
 * at publish time has reached the stage, failed, or the timeout has passed; then sends the
 * receipt to the publisher once.
 */
export class ReceiptTracker {
  /**
   * Made with its first receiver, to that size: an empty array's first push reserves 17 slots,
   * for a request's one receiver (issue 14).
   */
  private receivers: Receiver[] = NO_RECEIVERS;
  private outstanding = 0;
  private dropped = 0;
  /** Its place among the broker's receipt deadlines (one timer for all: no Timeout and closure per publish). */
  private deadlines: LeaseHeap<ReceiptTracker> | undefined;
  private lease: Lease<ReceiptTracker> | undefined;
  private done = false;
  private gate: Promise<void> | undefined;
  /** Receivers are still being added (a durable queue may deliver synchronously): do not answer yet. */
  private started = false;
  /** Called once the receipt is decided or nobody waits for it any more (a drain waits on it). */
  onFinish: (() => void) | undefined;
  /** Called once the tracker is done, whatever the reason: a cluster stops routing events to it. */
  onDone: (() => void) | undefined;

  constructor(
    private readonly publisher: Connection,
    private readonly requestId: number,
    readonly mid: string,
    private readonly stage: 'delivery' | 'processing',
    private readonly wantsReply: boolean,
    /** A persistent message's receipt names the durable subscriptions that stored it, at every stage. */
    private readonly persistent = false,
  ) {}

  get publisherCodec(): 'msgpack' | 'json' {
    return this.publisher.codec.name;
  }

  /** Registers a receiver; returns the delivery tag its rcv/ack/nack will name. */
  add(conn: Connection, sid: number, group: string | undefined): number {
    this.outstanding++;
    const tag = conn.trackTag(this, this.receivers.length);
    this.push(receiver(conn, sid, group, undefined, undefined, tag, undefined));
    return tag;
  }

  /** A durable subscription: it reaches delivery when a consumer gets the message, processing when one acks it. */
  addQueue(name: string): number {
    this.outstanding++;
    return this.push(receiver(undefined, undefined, undefined, name, undefined, -1, undefined));
  }

  /** The receipt goes out only once this resolves as well: a persistent message is acknowledged only when on disk. */
  after(durable: Promise<void> | undefined): void {
    this.gate = durable;
  }

  /** A receiver that never got the message (its outbound buffer was full). */
  addDropped(conn: Connection, sid: number, group: string | undefined): void {
    this.dropped++;
    this.push(receiver(conn, sid, group, undefined, undefined, -1, 'lost'));
  }

  /** Another node of a cluster got the message: the receipt waits for its report (addRemote) too. */
  expectNode(): void {
    this.outstanding++;
  }

  /**
   * What a node expected with expectNode() delivered to: its receivers, then those it dropped.
   * Returns the index of its first receiver; the node's events name its receivers from there.
   */
  addRemote(receivers: readonly ReceiverRef[], dropped: readonly ReceiverRef[]): number {
    const base = this.receivers.length;
    for (const remote of receivers) {
      this.outstanding++;
      this.push(receiver(undefined, undefined, undefined, undefined, remote, -1, undefined));
    }
    for (const remote of dropped) {
      this.dropped++;
      this.push(receiver(undefined, undefined, undefined, undefined, remote, -1, 'lost'));
    }
    if (--this.outstanding === 0 && this.started) this.finish(false);
    return base;
  }

  /**
   * Starts the clock on `deadlines`, whose expiry calls timeOut(), or answers at once when
   * nobody is left to wait for.
   */
  start(timeoutMs: number, deadlines: LeaseHeap<ReceiptTracker>): void {
    this.started = true;
    if (this.outstanding === 0) this.finish(false);
    else {
      this.deadlines = deadlines;
      this.lease = deadlines.add(this, performance.now() + timeoutMs);
    }
  }

  delivered(index: number): void {
    const r = this.receivers[index];
    if (!r || r.delivered) return;
    r.delivered = true;
    this.check(r);
  }

  processed(index: number, reply?: Payload): void {
    const r = this.receivers[index];
    if (!r || r.outcome) return;
    r.delivered = true;
    r.outcome = 'processed';
    if (this.wantsReply) this.finish(false, reply);
    else this.check(r);
  }

  rejected(index: number, reason?: string): void {
    const r = this.receivers[index];
    if (!r || r.outcome) return;
    r.delivered = true;
    r.outcome = 'rejected';
    r.reason = reason;
    this.check(r);
  }

  /** The receiver's connection went away before it finished. */
  lost(index: number): void {
    const r = this.receivers[index];
    if (!r || r.outcome) return;
    r.outcome = 'lost';
    this.check(r);
  }

  /** The publisher went away: nobody to answer. */
  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.clearDeadline();
    this.release();
    this.onFinish?.();
    this.onDone?.();
  }

  /** Answers now, as if the timeout had passed: the broker is stopping and will not wait longer. */
  timeOut(): void {
    this.finish(true);
  }

  private check(r: Receiver): void {
    if (r.settled || !(r.outcome || (this.stage === 'delivery' && r.delivered))) return;
    r.settled = true;
    if (--this.outstanding === 0 && this.started) this.finish(false);
  }

  private finish(timedOut: boolean, reply?: Payload): void {
    if (this.done) return;
    this.done = true;
    this.clearDeadline();
    this.release();
    this.publisher.untrack(this);
    const receipt = this.receipt(timedOut);
    if (!this.gate) this.publisher.sendReceipt(receipt, reply);
    else this.gate.then(() => this.publisher.sendReceipt(receipt, reply), (err: unknown) => this.publisher.sendError(err, this.requestId));
    this.onFinish?.();
    this.onDone?.();
  }

  private clearDeadline(): void {
    if (this.lease) this.deadlines!.remove(this.lease);
  }

  /** Adds `r`; returns its index. */
  private push(r: Receiver): number {
    if (this.receivers === NO_RECEIVERS) this.receivers = [r];
    else this.receivers.push(r);
    return this.receivers.length - 1;
  }

  /** Frees the delivery tags still held by receivers, so their late acks are ignored quietly. */
  private release(): void {
    for (const r of this.receivers) if (r.tag >= 0) r.conn!.releaseTag(r.tag);
  }

  /** The lists are made only when they have entries: a request's receipt usually has none (issue 14). */
  private receipt(timedOut: boolean): ReceiptFrame {
    let missing: ReceiverRef[] | undefined;
    let queues: string[] | undefined;
    let rejected: ReceiverRef[] | undefined;
    let delivered = 0;
    let processed = 0;
    for (const r of this.receivers) {
      if (r.queue !== undefined) (queues ??= []).push(r.queue);
      if (r.delivered) delivered++;
      if (r.outcome === 'processed') processed++;
      if (r.outcome === 'rejected') (rejected ??= []).push(r.reason === undefined ? ref(r) : { ...ref(r), reason: r.reason });
      const reached = this.stage === 'delivery' ? r.delivered : r.outcome === 'processed' || r.outcome === 'rejected';
      if (!reached) (missing ??= []).push(ref(r));
    }
    const receipt: ReceiptFrame = {
      t: 'receipt', re: this.requestId, mid: this.mid, stage: this.stage,
      receivers: this.receivers.length, delivered, processed, failed: rejected?.length ?? 0, dropped: this.dropped,
      timedOut, missing: missing ?? NONE, rejected: rejected ?? NONE,
    };
    if (this.persistent) receipt.queues = queues ?? NONE_QUEUED;
    return receipt;
  }
}

const NO_RECEIVERS: Receiver[] = [];

/**
 * Every receiver with all its fields from the start: one shape for all of them, and no property
 * store allocated when an outcome is set later.
 */
function receiver(
  conn: Connection | undefined, sid: number | undefined, group: string | undefined, queue: string | undefined,
  remote: ReceiverRef | undefined, tag: number, outcome: 'lost' | undefined,
): Receiver {
  return { conn, sid, group, queue, remote, tag, delivered: false, outcome, reason: undefined, settled: outcome !== undefined };
}

/**
 * Shared empty lists for receipts: a receipt is encoded and let go (never kept or added to), so
 * one frozen array serves them all.
 */
const NONE = Object.freeze([]) as unknown as ReceiverRef[];
const NONE_QUEUED = Object.freeze([]) as unknown as string[];

function ref(r: Receiver): ReceiverRef {
  if (r.remote !== undefined) return r.remote;
  if (r.queue !== undefined) return { queue: r.queue };
  return r.group === undefined ? { connection: r.conn!.id, sid: r.sid! } : { connection: r.conn!.id, sid: r.sid!, group: r.group };
}
