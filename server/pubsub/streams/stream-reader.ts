import type { Connection } from '../../connection.js';
import { ReaderAcks } from './reader-acks.js';
import { deliverEntry, type DeliveringReader } from './stream-delivery.js';
import type { Stream } from './stream.js';
import { topicMatches, type StreamEntry } from './stream-records.js';

/** Messages one turn of catching up reads and hands out before the connections flush them. */
const CATCH_UP_SLICE = 64;

/** Where the reader stands in the stream: what it stores and what it is told on each ack. */
export interface ReaderHost {
  /** A named reader's acked position moved: store it (nobody waits for the write). */
  positionMoved(stream: Stream, reader: string, pos: number): void;
}

/**
 * A subscription reading a stream (issue 17): from its start position it catches up on the
 * messages in the store, a window at a time, then follows appends live. The switch is exact
 * because the broker is single-threaded: the reader goes live in the very turn its position
 * reaches the stream's next seq, so every later append reaches it through offer() and every
 * earlier one was read from the store (or the pending list) — no gap, no duplicate. A live reader
 * that cannot take a message (congested socket, a named reader at its in-flight limit) falls
 * back to catching up from where it stopped: the store keeps what it has not had.
 *
 * A named reader's deliveries carry a tag and wait for an ack; its stored position is the lowest
 * seq not acked, so whatever it had not acked comes again when it returns.
 */
export class StreamReader implements DeliveringReader {
  /** The next seq to look at. */
  pos: number;
  private caughtUp = false;
  private turnDue = false;
  private stopped = false;
  private awaitingDrain = false;
  readonly acks: ReaderAcks | undefined;

  /** `ackWait`: a named reader's (ignored for an unnamed one, whose deliveries wait for nothing). */
  constructor(
    readonly conn: Connection, readonly sid: number, readonly stream: Stream, readonly pattern: string,
    readonly name: string | undefined, start: number, private readonly host: ReaderHost, ackWait: number,
  ) {
    this.pos = start;
    this.acks = name === undefined ? undefined : new ReaderAcks(conn, this, start, ackWait);
  }

  get unacked(): number {
    return this.acks?.size ?? 0;
  }

  get isLive(): boolean {
    return this.caughtUp;
  }

  /** Starts reading; called once attached. */
  start(): void {
    this.stream.readers.add(this);
    this.catchUp();
  }

  /** Detached (unsub, disconnect, takeover, stream deleted): what it held stays unacked, for its next attachment. */
  stop(): void {
    this.stopped = true;
    this.leaveLive();
    this.stream.readers.delete(this);
    this.acks?.release();
  }

  /** A message appended to the stream while this reader is live. */
  offer(entry: StreamEntry): void {
    if (entry.seq !== this.pos) {
      // Not caught up after all (cannot happen while appends come in order): read from the store.
      this.leaveLive();
      this.catchUp();
      return;
    }
    if (!topicMatches(this.pattern, entry.topic)) {
      this.pos++;
      return;
    }
    if (this.acks?.full || this.conn.isCongested(true)) {
      this.leaveLive();
      this.waitForRoom();
      return;
    }
    this.pos++;
    deliverEntry(this, entry);
  }

  /** Reads and hands out messages from the store until caught up, a slice per turn. */
  catchUp(): void {
    if (this.stopped || this.turnDue || this.caughtUp) return;
    let budget = CATCH_UP_SLICE;
    for (;;) {
      if (this.conn.state === 'closed') return;
      if (this.acks?.full || this.conn.isCongested(true)) return this.waitForRoom();
      if (this.pos < this.stream.first) this.pos = this.stream.first;
      if (this.pos >= this.stream.next) {
        this.caughtUp = true;
        this.stream.live.add(this);
        return;
      }
      const room = this.acks === undefined ? budget : Math.min(budget, this.acks.room);
      const entries = this.stream.read(this.pos, room);
      if (entries.length === 0) {
        // Only holes left (writes that failed): nothing between here and the stream's end.
        this.pos = this.stream.next;
        continue;
      }
      // maxAge holds lazily too: what aged out but the sweep has not reached yet is not read.
      const maxAge = this.stream.config.maxAge;
      const cutoff = maxAge > 0 ? Date.now() - maxAge : -Infinity;
      for (const e of entries) {
        this.pos = e.seq + 1;
        budget--;
        if (e.time > cutoff && topicMatches(this.pattern, e.topic)) deliverEntry(this, e);
      }
      if (budget <= 0) {
        // The rest after the connections have written this slice (setImmediate runs after their flush).
        this.turnDue = true;
        setImmediate(() => {
          this.turnDue = false;
          this.catchUp();
        });
        return;
      }
    }
  }

  // ---- TagOwner: a named reader's acks ----
  delivered(): void {}

  processed(seq: number): void {
    if (!this.acks?.settle(seq)) return;
    const moved = this.acks.moved(this.pos);
    if (moved !== undefined) this.host.positionMoved(this.stream, this.name!, moved);
    if (!this.caughtUp) this.catchUp();
  }

  /** A nack: the message comes again now (or after `delay`), unless retention dropped it meanwhile. */
  rejected(seq: number, _reason?: string, delay = 0): void {
    const tag = this.acks?.nacked(seq);
    if (tag === undefined) return;
    const again = (): void => {
      if (this.stopped || this.acks!.tagOf(seq) !== tag) return;
      const entry = this.stream.entry(seq);
      // Gone meanwhile (retention): as if acked, so the position moves past it.
      if (entry) deliverEntry(this, entry);
      else this.processed(seq);
    };
    if (delay > 0) setTimeout(again, delay).unref();
    else again();
  }

  /** The connection went: the reader is stopped by its detach, keeping its position. */
  lost(): void {}

  working(seq: number): void {
    this.acks?.working(seq);
  }

  private leaveLive(): void {
    if (!this.caughtUp) return;
    this.caughtUp = false;
    this.stream.live.delete(this);
  }

  /** At the in-flight limit an ack resumes reading (processed()); a congested socket, its drain. */
  private waitForRoom(): void {
    if (this.acks?.full || this.awaitingDrain) return;
    this.awaitingDrain = true;
    this.conn.whenSocketTakes(() => {
      this.awaitingDrain = false;
      this.catchUp();
    });
  }
}
