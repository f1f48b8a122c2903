import type { Key, Store } from '../../store/store.js';
import { AfterCommit } from '../../store/after-commit.js';
import { messageFromRecord, messagesPrefix, type MessageWatch, type QueuedMessage } from './queue-records.js';

const NO_PENDING: never[] = [];
/** Reads smaller than this prefetch nothing: a short backlog is read once, and soon. */
const PREFETCH_FROM = 64;
const NO_WATCHES = new Map<number, never>();

/** A message of the backlog whose write is not known to be on disk yet, with that write. */
interface Pending {
  readonly message: QueuedMessage;
  readonly backlog: Backlog;
}

/**
 * The ready messages of a queue beyond its window (DESIGN.md §5 "Backlog"): every ready message
 * with a seq from `from` on. They live in the store; memory holds only their number and bytes,
 * the publisher watches some of them carry, and those whose write has not resolved yet (the
 * store does not show a write before that, and a crash would lose it, so they are kept until
 * then: at most the publishes in flight).
 *
 * Messages come out oldest first. A message can join below the newest ones (a dead letter keeps
 * its seq), so what is on disk and what is pending are merged by seq when read.
 */
export class Backlog {
  /** Pending messages of every backlog leave their list once on disk: one reaction per write, not per message. */
  private static readonly onDisk = new AfterCommit<Pending>((entry) => entry.backlog.settle(entry), () => {});
  /** Ready messages with a seq from here on are in the backlog; those below are in memory. */
  from: number;
  count = 0;
  bytes = 0;
  /** By seq, lowest first. */
  // Shared empty ones until first needed: a queue that never has a backlog costs little (issue 21: many small queues).
  private pending: Pending[] = NO_PENDING;
  private watches: Map<number, MessageWatch> = NO_WATCHES;
  /** Expired here, their deletion not yet stored: a read of the disk must not bring them back. */
  private expiring: Set<number> | undefined;
  /**
   * Count records of messages here (['n', queue, seq], read at restore): only messages delivered
   * before a restart have one, and of those only the ones redelivered (DeliveryCounts).
   */
  deliveries: Map<number, number> | undefined;
  /** Seqs below this were handed to store.prefetch() (see prefetchAfter). */
  private prefetchedTo = 0;

  /**
   * `owner.expiresInBacklog`: a message's write resolved after its ttl ended, so a sweep of the
   * ttl index that came in time missed it; `owner.impliedDeliveries`: the delivery count of a
   * message without a count record.
   */
  constructor(
    private readonly store: Store, private readonly queue: string, from: number,
    private readonly owner: { expiresInBacklog(at: number): void; impliedDeliveries(seq: number): number },
  ) {
    this.from = from;
  }

  /** A message whose write was issued (`written` resolves once it is on disk; undefined: it is). */
  append(message: QueuedMessage, written: Promise<void> | undefined): void {
    this.count++;
    this.bytes += message.data.length;
    if (message.watch) {
      if (this.watches === NO_WATCHES) this.watches = new Map();
      this.watches.set(message.seq, message.watch);
    }
    if (!written) return;
    if (this.pending === NO_PENDING) this.pending = [];
    const entry: Pending = { message, backlog: this };
    let i = this.pending.length;
    while (i > 0 && this.pending[i - 1]!.message.seq > message.seq) i--;
    this.pending.splice(i, 0, entry);
    // On disk now, and read from there; a failed write is withdrawn by the publisher (withdraw()).
    Backlog.onDisk.add(written, entry);
  }

  /** Takes a message whose write failed back out; false when it is not here (already read). */
  withdraw(message: QueuedMessage): boolean {
    const i = this.pending.findIndex((p) => p.message === message);
    if (i === -1) return false;
    this.pending.splice(i, 1);
    this.count--;
    this.bytes -= message.data.length;
    this.watches.delete(message.seq);
    return true;
  }

  /**
   * The ttl of message `seq` ended while it waited here: it leaves unread. Returns its bytes and
   * watch, or undefined when it is not here (any more).
   */
  expire(seq: number): { bytes: number; watch: MessageWatch | undefined; counted: boolean } | undefined {
    if (seq < this.from || this.expiring?.has(seq)) return undefined;
    const i = this.pending.findIndex((p) => p.message.seq === seq);
    let bytes: number;
    if (i !== -1) {
      bytes = this.pending[i]!.message.data.length;
      this.pending.splice(i, 1);
    } else {
      const record = this.store.get([...messagesPrefix(this.queue), seq]) as { data: Uint8Array } | undefined;
      if (!record) return undefined;
      bytes = record.data.length;
      (this.expiring ??= new Set()).add(seq);
    }
    this.count--;
    this.bytes -= bytes;
    const watch = this.watches.get(seq);
    this.watches.delete(seq);
    const counted = this.deliveries?.delete(seq) ?? false;
    return { bytes, watch, counted };
  }

  /** The deletion of an expired message (expire()) is stored. */
  expired(seq: number): void {
    this.expiring?.delete(seq);
    if (this.expiring?.size === 0) this.expiring = undefined;
  }

  /** The first `n` messages, oldest first, out of the backlog: `from` moves past them. */
  take(n: number): QueuedMessage[] {
    const out = this.peek(n);
    if (out.length === 0) return out;
    for (const m of out) {
      const i = this.pending.findIndex((p) => p.message === m);
      if (i !== -1) this.pending.splice(i, 1);
      this.count--;
      this.bytes -= m.data.length;
      const watch = this.watches.get(m.seq);
      if (watch) {
        m.watch = watch;
        this.watches.delete(m.seq);
      }
      this.deliveries?.delete(m.seq);
    }
    if (this.deliveries?.size === 0) this.deliveries = undefined;
    this.from = out[out.length - 1]!.seq + 1;
    if (out.length >= PREFETCH_FROM) this.prefetchAfter(out);
    return out;
  }

  /**
   * Asks the store to load the next two reads' worth of the backlog in the background: the
   * first touch of memory-mapped pages cost a draining queue's read 1.2 us a message on the
   * event loop, 0.7 us once a thread had touched them (issue 21: drain rate). One key every 8
   * pages (a page holds about 4 KiB of messages) is enough: the kernel maps a faulted page's
   * neighbours with it, and a key costs its encoding on the event loop (one a page: 0.56 us a
   * message read but 0.33 us more to ask for; one every 8 pages 0.69 and 0.04).
   */
  private prefetchAfter(read: QueuedMessage[]): void {
    const first = read[0]!.seq;
    const last = read[read.length - 1]!.seq;
    const end = last + 1 + 2 * (last - first + 1);
    const start = Math.max(this.prefetchedTo, last + 1);
    if (start >= end || this.count === 0) return;
    const seqsPerMessage = (last - first + 1) / read.length;
    const messagesPerPage = Math.min(64, Math.max(1, Math.floor(4096 / (this.bytes / this.count + 128))));
    const step = Math.max(1, Math.floor(8 * messagesPerPage * seqsPerMessage));
    const keys: Key[] = [];
    for (let seq = start; seq < end; seq += step) keys.push(['m', this.queue, seq]);
    this.store.prefetch(keys);
    this.prefetchedTo = end;
  }

  /** The first `n` messages, oldest first, left where they are. */
  peek(n: number): QueuedMessage[] {
    if (n <= 0 || this.count === 0) return [];
    // A pending message may be on disk already: read enough to have n that are not also pending.
    const pendingSeqs = new Set(this.pending.map((p) => p.message.seq));
    const expiring = this.expiring;
    const onDisk = this.store
      .range(messagesPrefix(this.queue), { from: [this.from], limit: n + this.pending.length + (expiring?.size ?? 0) })
      .filter(([key]) => !pendingSeqs.has(key[2] as number) && !expiring?.has(key[2] as number))
      .map(([key, value]) => messageFromRecord(key, value, this.deliveries?.get(key[2] as number) ?? this.owner.impliedDeliveries(key[2] as number)));
    const all = this.pending.length === 0 ? onDisk : [...onDisk, ...this.pending.map((p) => p.message)].sort((a, b) => a.seq - b.seq);
    return all.slice(0, n);
  }

  /**
   * Empties the backlog (purge): what it held is for the caller to delete, from `from` up to
   * `below` on disk plus the pending ones returned, and the delivery counts of `counted`.
   * Watches are returned to be told.
   */
  clear(below: number): { from: number; count: number; bytes: number; pending: QueuedMessage[]; watches: MessageWatch[]; counted: number[] } {
    const cleared = {
      from: this.from, count: this.count, bytes: this.bytes, pending: this.pending.map((p) => p.message), watches: [...this.watches.values()],
      counted: [...(this.deliveries?.keys() ?? [])],
    };
    this.deliveries = undefined;
    this.pending.length = 0;
    this.watches.clear();
    this.count = 0;
    this.bytes = 0;
    this.from = Math.max(this.from, below);
    return cleared;
  }

  private settle(entry: Pending): void {
    const i = this.pending.indexOf(entry);
    if (i === -1) return;
    this.pending.splice(i, 1);
    if (entry.message.expiresAt <= Date.now()) this.owner.expiresInBacklog(entry.message.expiresAt);
  }
}
