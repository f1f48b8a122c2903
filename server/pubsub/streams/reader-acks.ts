import type { Connection, TagOwner } from '../../connection.js';
import { DeadlineList, type Due } from '../durable/deadline-list.js';

/** A named reader's ackWait when its `sub` names none, as for a durable queue's consumers. */
export const DEFAULT_READER_ACK_WAIT = 30_000;

/** Unacknowledged deliveries a named reader holds; past it, it reads on once acks come. */
const READER_MAX_IN_FLIGHT = 256;

/** One message a named reader has not acked yet. */
interface Unacked extends Due {
  readonly seq: number;
  /** The tag its latest delivery went out under. */
  tag: number;
  /** Deliveries of it to this attachment (`dc`). */
  count: number;
}

/**
 * A named stream reader's deliveries waiting for an ack (protocol.md §9.11), the same for one
 * broker's reader and a cluster node's: each message's tag and delivery count, its `ackWait`,
 * and the position they add up to, the lowest seq not acked. A delivery neither acked nor
 * nacked within `ackWait`, nor kept alive with `working`, is taken back (its tag withdrawn, so
 * a late ack of it is ignored) and delivered again as after a nack: without that, a consumer
 * stuck on one message held it, and the position, until it disconnected. One DeadlineList a
 * reader: no timer per delivery.
 */
export class ReaderAcks {
  private readonly unacked = new Map<number, Unacked>();
  private readonly deadlines: DeadlineList<Unacked>;
  /** Every seq below it is acked, as last reported. */
  private acked: number;

  /** `owner`: the reader, whose rejected() delivers again. */
  constructor(private readonly conn: Connection, private readonly owner: TagOwner, start: number, private readonly ackWait: number) {
    this.acked = start;
    this.deadlines = new DeadlineList<Unacked>((u) => {
      conn.releaseTag(u.tag);
      owner.rejected(u.seq);
    });
  }

  get size(): number {
    return this.unacked.size;
  }

  /** Deliveries it may still have out before it waits for acks. */
  get room(): number {
    return READER_MAX_IN_FLIGHT - this.unacked.size;
  }

  get full(): boolean {
    return this.room <= 0;
  }

  /**
   * A delivery of `seq` about to go out: its tag, and how many times this attachment has had it
   * (a nack's or an ackWait's redelivery counts on). The entry itself, so a delivery allocates
   * nothing more.
   */
  deliver(seq: number): Readonly<Pick<Unacked, 'tag' | 'count'>> {
    const tag = this.conn.trackTag(this.owner, seq);
    let u = this.unacked.get(seq);
    if (u) {
      this.deadlines.remove(u);
      u.tag = tag;
      u.count++;
    } else {
      u = { seq, tag, count: 1, at: 0, prev: undefined, next: undefined, listed: false };
      this.unacked.set(seq, u);
    }
    this.deadlines.add(u, Date.now() + this.ackWait);
    return u;
  }

  /** The tag `seq` waits under, or undefined when it does not wait (acked, or never delivered here). */
  tagOf(seq: number): number | undefined {
    return this.unacked.get(seq)?.tag;
  }

  /** Acked, or gone from the stream: false when it was not waiting. */
  settle(seq: number): boolean {
    const u = this.unacked.get(seq);
    if (!u) return false;
    this.unacked.delete(seq);
    this.deadlines.remove(u);
    return true;
  }

  /** Nacked: it waits for its redelivery, no longer for an answer. Its tag, or undefined when it was not waiting. */
  nacked(seq: number): number | undefined {
    const u = this.unacked.get(seq);
    if (!u) return undefined;
    this.deadlines.remove(u);
    return u.tag;
  }

  /** `working`: its ackWait starts again. */
  working(seq: number): void {
    const u = this.unacked.get(seq);
    if (!u?.listed) return;
    this.deadlines.remove(u);
    this.deadlines.add(u, Date.now() + this.ackWait);
  }

  /** The new position when it moved on, `next` being the reader's next seq to read; undefined when it did not. */
  moved(next: number): number | undefined {
    let low = next;
    for (const seq of this.unacked.keys()) if (seq < low) low = seq;
    if (low <= this.acked) return undefined;
    this.acked = low;
    return low;
  }

  /** The attachment ends: tags withdrawn, deadlines stopped; what was not acked comes again at the next. */
  release(): void {
    for (const u of this.unacked.values()) this.conn.releaseTag(u.tag);
    this.unacked.clear();
    this.deadlines.stop();
  }
}
