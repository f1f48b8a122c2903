import { DeadlineList, type Due } from '../durable/deadline-list.js';
import type { DeliveringReader } from './stream-delivery.js';

/** A named reader's ackWait when its `sub` names none, as for a durable queue's consumers. */
export const DEFAULT_READER_ACK_WAIT = 30_000;

interface Pending extends Due {
  readonly seq: number;
  readonly tag: number;
}

/**
 * A named stream reader's `ackWait` (protocol.md §9.11): a delivery neither acked nor nacked
 * within it, and not kept alive with `working`, is taken back and delivered again, as a durable
 * queue's is. Without it a consumer stuck on one message held it, and the reader's position,
 * until it disconnected. One DeadlineList a reader: no timer per delivery.
 */
export class AckDeadlines {
  private readonly pending = new Map<number, Pending>();
  private readonly list: DeadlineList<Pending>;

  constructor(private readonly ackWait: number, reader: DeliveringReader) {
    this.list = new DeadlineList<Pending>((p) => {
      this.pending.delete(p.seq);
      // Its tag is withdrawn (a late ack of it is ignored), and the reader delivers it again as after a nack.
      if (reader.inFlight.get(p.seq) !== p.tag) return;
      reader.conn.releaseTag(p.tag);
      reader.rejected(p.seq);
    });
  }

  track(seq: number, tag: number): void {
    const p: Pending = { seq, tag, at: 0, prev: undefined, next: undefined, listed: false };
    this.pending.set(seq, p);
    this.list.add(p, Date.now() + this.ackWait);
  }

  /** Acked or nacked: no deadline any more. */
  settled(seq: number): void {
    const p = this.pending.get(seq);
    if (!p) return;
    this.pending.delete(seq);
    this.list.remove(p);
  }

  /** `working`: its ackWait starts again. */
  extend(seq: number): void {
    const p = this.pending.get(seq);
    if (!p) return;
    this.list.remove(p);
    this.list.add(p, Date.now() + this.ackWait);
  }

  stop(): void {
    this.list.stop();
    this.pending.clear();
  }
}
