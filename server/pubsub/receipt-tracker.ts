import type { ReceiptFrame, ReceiverRef } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import type { Payload } from './payload.js';

type Outcome = 'processed' | 'rejected' | 'lost';

interface Receiver {
  conn: Connection;
  sid: number;
  group?: string;
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
  private readonly receivers: Receiver[] = [];
  private outstanding = 0;
  private dropped = 0;
  private timer: NodeJS.Timeout | undefined;
  private done = false;

  constructor(
    private readonly publisher: Connection,
    private readonly requestId: number,
    readonly mid: string,
    private readonly stage: 'delivery' | 'processing',
    private readonly wantsReply: boolean,
  ) {}

  get publisherCodec(): 'msgpack' | 'json' {
    return this.publisher.codec.name;
  }

  /** Registers a receiver; returns the delivery tag its rcv/ack/nack will name. */
  add(conn: Connection, sid: number, group: string | undefined): number {
    this.outstanding++;
    const tag = conn.trackTag(this, this.receivers.length);
    this.receivers.push({ conn, sid, group, tag, delivered: false, settled: false });
    return tag;
  }

  /** A receiver that never got the message (its outbound buffer was full). */
  addDropped(conn: Connection, sid: number, group: string | undefined): void {
    this.dropped++;
    this.receivers.push({ conn, sid, group, tag: -1, delivered: false, outcome: 'lost', settled: true });
  }

  /** Starts the clock, or answers at once when nobody is left to wait for. */
  start(timeoutMs: number): void {
    if (this.outstanding === 0) this.finish(false);
    else this.timer = setTimeout(() => this.finish(true), timeoutMs);
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
    clearTimeout(this.timer);
    this.release();
  }

  private check(r: Receiver): void {
    if (r.settled || !(r.outcome || (this.stage === 'delivery' && r.delivered))) return;
    r.settled = true;
    if (--this.outstanding === 0) this.finish(false);
  }

  private finish(timedOut: boolean, reply?: Payload): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.release();
    this.publisher.trackers.delete(this);
    this.publisher.sendReceipt(this.receipt(timedOut), reply);
  }

  /** Frees the delivery tags still held by receivers, so their late acks are ignored quietly. */
  private release(): void {
    for (const r of this.receivers) if (r.tag >= 0) r.conn.releaseTag(r.tag);
  }

  private receipt(timedOut: boolean): ReceiptFrame {
    const missing: ReceiverRef[] = [];
    const rejected: ReceiverRef[] = [];
    let delivered = 0;
    let processed = 0;
    for (const r of this.receivers) {
      if (r.delivered) delivered++;
      if (r.outcome === 'processed') processed++;
      if (r.outcome === 'rejected') rejected.push(r.reason === undefined ? ref(r) : { ...ref(r), reason: r.reason });
      const reached = this.stage === 'delivery' ? r.delivered : r.outcome === 'processed' || r.outcome === 'rejected';
      if (!reached) missing.push(ref(r));
    }
    return {
      t: 'receipt', re: this.requestId, mid: this.mid, stage: this.stage,
      receivers: this.receivers.length, delivered, processed, failed: rejected.length, dropped: this.dropped,
      timedOut, missing, rejected,
    };
  }
}

function ref(r: Receiver): ReceiverRef {
  return r.group === undefined ? { connection: r.conn.id, sid: r.sid } : { connection: r.conn.id, sid: r.sid, group: r.group };
}
