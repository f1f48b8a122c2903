import type { Connection } from '../../connection.js';
import { ReaderAcks } from '../../pubsub/streams/reader-acks.js';
import { deliverEntry, type DeliveringReader } from '../../pubsub/streams/stream-delivery.js';
import { topicMatches, type StreamConfig, type StreamEntry } from '../../pubsub/streams/stream-records.js';

/** Messages one read asks Redis for; the connections flush them before the next. */
const READ_SLICE = 64;
/** After a failed read (Redis away), the next attempt. */
const RETRY_MS = 500;

/** What a reader needs of its node: reads from Redis, the tail's wake-up, a named reader's position. */
export interface ClusterReaderHost {
  /** Up to `limit` messages from seq `from` on (XRANGE), and the seq the next message takes, read together. */
  read(stream: string, from: number, limit: number): Promise<{ entries: StreamEntry[]; next: number }>;
  /** Calls `wake` once the stream holds a seq at or past `seq`. */
  wait(stream: string, seq: number, wake: () => void): void;
  forget(stream: string, wake: () => void): void;
  config(stream: string): StreamConfig | undefined;
  positionMoved(stream: string, reader: string, pos: number): void;
  failed(err: unknown, doing: string): void;
}

/**
 * A subscription reading a replayable stream in cluster mode (issue 17): the messages are in a
 * Redis Stream with ids `<seq>-0`, and the reader reads them in windows from its position, then
 * waits for the stream's tail on this node to see a seq at its position, and reads again. Every
 * message, replayed or live, comes through the same read from the reader's position, so the
 * hand-over from replay to live has no gap and no duplicate, whichever node appended.
 *
 * A named reader's deliveries carry a tag and wait for an ack; its position in Redis is the
 * lowest seq not acked, so whatever it had not acked comes again when it returns, on any node.
 */
export class ClusterStreamReader implements DeliveringReader {
  pos: number;
  readonly acks: ReaderAcks | undefined;
  private stopped = false;
  private running = false;
  private again = false;
  private awaitingDrain = false;
  private wakeUp: (() => void) | undefined;
  /** Names this attachment cluster-wide (a named reader's takeover from another node). */
  readonly token: string;
  /** Its own announcement came back on the channel: any other one after it is newer. */
  announced = false;

  /** `ackWait`: a named reader's (ignored for an unnamed one, whose deliveries wait for nothing). */
  constructor(
    readonly conn: Connection, readonly sid: number, readonly stream: string, readonly pattern: string,
    readonly name: string | undefined, start: number, private readonly host: ClusterReaderHost, ackWait: number, token = '',
  ) {
    this.token = token;
    this.pos = start;
    this.acks = name === undefined ? undefined : new ReaderAcks(conn, this, start, ackWait);
  }

  get unacked(): number {
    return this.acks?.size ?? 0;
  }

  start(): void {
    this.pump();
  }

  stop(): void {
    this.stopped = true;
    const wake = this.wakeUp;
    if (wake) {
      this.host.forget(this.stream, wake);
      wake();
    }
    this.acks?.release();
  }

  // ---- TagOwner: a named reader's acks ----
  delivered(): void {}

  processed(seq: number): void {
    if (!this.acks?.settle(seq)) return;
    const moved = this.acks.moved(this.pos);
    if (moved !== undefined) this.host.positionMoved(this.stream, this.name!, moved);
    this.pump();
  }

  /** A nack: the message comes again now (or after `delay`), unless retention dropped it meanwhile. */
  rejected(seq: number, _reason?: string, delay = 0): void {
    const tag = this.acks?.nacked(seq);
    if (tag === undefined) return;
    const again = (): void => {
      if (this.stopped || this.acks!.tagOf(seq) !== tag) return;
      this.host.read(this.stream, seq, 1).then(({ entries }) => {
        if (this.stopped || this.acks!.tagOf(seq) !== tag) return;
        const e = entries[0];
        // Gone meanwhile (retention): as if acked, so the position moves past it.
        if (e?.seq === seq) deliverEntry(this, e);
        else this.processed(seq);
      }, (err: unknown) => this.host.failed(err, 'stream redelivery'));
    };
    if (delay > 0) setTimeout(again, delay).unref();
    else again();
  }

  lost(): void {}

  working(seq: number): void {
    this.acks?.working(seq);
  }

  // ---- reading ----
  private pump(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.loop().finally(() => {
      this.running = false;
      if (this.again) this.pump();
    });
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.again = false;
      if (this.conn.state === 'closed') return;
      if (this.acks?.full) return; // an ack pumps again
      if (this.conn.isCongested(true)) return this.waitForRoom();
      const room = this.acks === undefined ? READ_SLICE : Math.min(READ_SLICE, this.acks.room);
      let entries: StreamEntry[];
      try {
        const read = await this.host.read(this.stream, this.pos, room);
        entries = read.entries;
        if (entries.length === 0) {
          // Nothing at or past pos: wait for the tail, from the stream's end as it was at this read
          // (past what retention dropped; read with the range, so nothing appended after it is skipped).
          const next = read.next;
          if (this.stopped) return;
          if (next > this.pos) this.pos = next;
          await new Promise<void>((resolve) => {
            this.wakeUp = resolve;
            this.host.wait(this.stream, this.pos, resolve);
          });
          this.wakeUp = undefined;
          continue;
        }
      } catch (err) {
        if (this.stopped) return;
        this.host.failed(err, 'stream read');
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref());
        continue;
      }
      if (this.stopped) return;
      // maxAge holds lazily too: what aged out but the sweep has not reached yet is not read.
      const maxAge = this.host.config(this.stream)?.maxAge ?? 0;
      const cutoff = maxAge > 0 ? Date.now() - maxAge : -Infinity;
      for (const e of entries) {
        if (e.seq < this.pos) continue;
        this.pos = e.seq + 1;
        if (e.time > cutoff && topicMatches(this.pattern, e.topic)) deliverEntry(this, e);
      }
      // The rest after the connections have written this slice (setImmediate runs after their flush).
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private waitForRoom(): void {
    if (this.awaitingDrain) return;
    this.awaitingDrain = true;
    this.conn.whenSocketTakes(() => {
      this.awaitingDrain = false;
      this.pump();
    });
  }
}
