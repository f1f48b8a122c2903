import { LindenError } from '../../../protocol/errors.js';
import type { Headers } from '../../../protocol/frames.js';
import type { Store, StoreWrite } from '../../store/store.js';
import {
  countersKey, entriesPrefix, entryFromRecord, entryKey, putEntry, readerKey,
  type StreamConfig, type StreamCounters, type StreamEntry,
} from './stream-records.js';
import type { StreamReader } from './stream-reader.js';

/** Head messages one trim reads and deletes at most; a longer run is trimmed on the next turn of the sweep. */
export const TRIM_PIECE = 1_000;

/**
 * One replayable stream: the counters of its log in the store (first and next seq, messages,
 * bytes), the messages appended whose write is not on disk yet, and the readers attached.
 * The messages themselves stay in the store and are read in windows (read()): memory follows
 * the readers, not the stream's size.
 */
export class Stream {
  first: number;
  next: number;
  count: number;
  bytes: number;
  /** Appended, their write not known to be on disk (the store shows a write only then): always the newest, by seq. */
  readonly pending: StreamEntry[] = [];
  /** Readers that follow appends as they happen (caught up). */
  readonly live = new Set<StreamReader>();
  /** Every reader attached, caught up or not. */
  readonly readers = new Set<StreamReader>();
  /** Named readers' positions (every seq below acked), stored under ['lsr', name, reader]. */
  readonly positions = new Map<string, number>();
  /** Which named readers are attached now. */
  readonly attachedNames = new Map<string, StreamReader>();
  /** Time of the oldest message, when known (maxAge); undefined: read it from the store. */
  firstTime: number | undefined;
  /** The stream's lease in the age sweep, when it has one. */
  sweepArmed = false;

  constructor(
    readonly name: string, readonly pattern: string, public config: StreamConfig, readonly createdAt: number,
    private readonly store: Store, counters?: StreamCounters,
  ) {
    this.first = counters?.first ?? 1;
    this.next = counters?.next ?? 1;
    this.count = counters?.count ?? 0;
    this.bytes = counters?.bytes ?? 0;
  }

  counters(): StoreWrite {
    const value: StreamCounters = { first: this.first, next: this.next, count: this.count, bytes: this.bytes };
    return { key: countersKey(this.name), value };
  }

  /** discard 'new': STREAM_FULL unless a message of `bytes` fits; any policy: one larger than maxBytes never does. */
  check(bytes: number, now: number): void {
    const { maxMessages, maxBytes, discard } = this.config;
    if (bytes > maxBytes) throw full(this, `a message of ${bytes} bytes is larger than its maxBytes ${maxBytes}`);
    if (discard !== 'new') return;
    // What maxAge drops anyway does not count against the new one.
    if (this.config.maxAge > 0 && this.count > 0 && this.oldestTime()! <= now - this.config.maxAge) return;
    if (this.count + 1 > maxMessages) throw full(this, `it holds maxMessages ${maxMessages}`);
    if (this.bytes + bytes > maxBytes) throw full(this, `${this.bytes} bytes + ${bytes} would pass maxBytes ${maxBytes}`);
  }

  /** Appends a checked message: its writes (the message, head messages the limits drop, the counters) go to `writes`. */
  append(topic: string, mid: string, data: Uint8Array, hdr: Headers | undefined, time: number, writes: StoreWrite[]): StreamEntry {
    const entry: StreamEntry = hdr === undefined ? { seq: this.next, topic, mid, data, time } : { seq: this.next, topic, mid, data, time, hdr };
    if (this.count === 0) this.firstTime = time;
    this.next++;
    this.count++;
    this.bytes += data.length;
    writes.push(putEntry(this.name, entry));
    this.pending.push(entry);
    this.trimAged(time, writes, TRIM_PIECE);
    this.trimToLimits(writes);
    writes.push(this.counters());
    return entry;
  }

  /** Drops the oldest messages while maxMessages or maxBytes is passed (an append, or limits made tighter). */
  trimToLimits(writes: StoreWrite[]): void {
    const { maxMessages, maxBytes } = this.config;
    while (this.count > maxMessages || this.bytes > maxBytes) {
      if (!this.dropHead(writes)) break;
    }
  }

  /** Drops messages older than maxAge from the head, at most `limit`; true when more may be left. */
  trimAged(now: number, writes: StoreWrite[], limit: number): boolean {
    const maxAge = this.config.maxAge;
    if (maxAge <= 0) return false;
    const cutoff = now - maxAge;
    while (this.count > 0) {
      const t = this.oldestTime();
      if (t === undefined || t > cutoff) return false;
      if (limit-- === 0) return true;
      if (!this.dropHead(writes)) return false;
    }
    return false;
  }

  /** Time of the oldest message, read from the store (or the pending list) when not known. */
  oldestTime(): number | undefined {
    if (this.count === 0) return undefined;
    if (this.firstTime === undefined) this.firstTime = this.head()?.time;
    return this.firstTime;
  }

  /** The oldest message, on disk or pending. */
  private head(): StreamEntry | undefined {
    return this.read(this.first, 1)[0];
  }

  /** Removes the oldest message: its deletion joins `writes`. False when there is none. */
  private dropHead(writes: StoreWrite[]): boolean {
    const head = this.head();
    if (!head) {
      this.count = 0;
      this.bytes = 0;
      this.first = this.next;
      return false;
    }
    writes.push({ key: entryKey(this.name, head.seq) });
    const i = this.pending.indexOf(head);
    if (i !== -1) this.pending.splice(i, 1);
    this.first = head.seq + 1;
    this.count--;
    this.bytes -= head.data.length;
    this.firstTime = undefined;
    return true;
  }

  /**
   * Up to `limit` messages from seq `from` on, in order: from the store, then from the pending
   * list (always the newest, since writes commit in the order issued).
   */
  read(from: number, limit: number): StreamEntry[] {
    const start = Math.max(from, this.first);
    if (start >= this.next || limit <= 0) return [];
    const pendingFrom = this.pending.length > 0 ? this.pending[0]!.seq : Infinity;
    const out: StreamEntry[] = [];
    if (start < pendingFrom) {
      for (const [key, value] of this.store.range(entriesPrefix(this.name), { from: [start], limit })) {
        if ((key[2] as number) >= pendingFrom) break;
        out.push(entryFromRecord(key, value));
      }
    }
    for (const e of this.pending) {
      if (out.length >= limit) break;
      if (e.seq >= start) out.push(e);
    }
    return out;
  }

  /** The first seq whose message was appended at or after `time` (next when none). */
  seqAtTime(time: number): number {
    let lo = this.first;
    let hi = this.next;
    // Binary search over the seqs; a hole (a write that failed) reads as the message after it.
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const e = this.read(mid, 1)[0];
      if (!e) {
        hi = mid;
        continue;
      }
      if (e.time >= time) hi = mid;
      else lo = e.seq + 1;
    }
    return lo;
  }

  /** A message by seq, or undefined when retention dropped it (or its write failed). */
  entry(seq: number): StreamEntry | undefined {
    const e = this.read(seq, 1)[0];
    return e?.seq === seq ? e : undefined;
  }

  /** The write that keeps a named reader's position. */
  positionWrite(reader: string, pos: number): StoreWrite {
    return { key: readerKey(this.name, reader), value: { pos } };
  }

  /** The message's write is on disk: it is read from there from now on. */
  settled(entry: StreamEntry): void {
    const i = this.pending.indexOf(entry);
    if (i !== -1) this.pending.splice(i, 1);
  }

  /** The message's write failed: nothing of it is stored, so it leaves the counts (its seq stays a hole). */
  unstored(entry: StreamEntry): void {
    const i = this.pending.indexOf(entry);
    if (i === -1) return;
    this.pending.splice(i, 1);
    this.count--;
    this.bytes -= entry.data.length;
  }
}

function full(stream: Stream, why: string): LindenError {
  return new LindenError('STREAM_FULL', `stream "${stream.name}" is full (discard ${stream.config.discard}): ${why}; nothing was stored`, { stream: stream.name });
}
