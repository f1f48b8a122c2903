import type { Redis } from 'ioredis';
import { packr } from '../../protocol/codec.js';
import type { LeaseFrame } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import { storedTuple, type StoredTuple } from '../space/stored-tuple.js';
import { tupleOf, watchOf, type TupleWatch } from './space-entries.js';
import { spaceChannel, spaceKey } from './space-scripts.js';

/** What a tuple's fate can be, as the space core's OutWatches counts it. */
export type TupleFate = 'delivered' | 'processed' | 'expired';

/** The space core's watches of writers (server/space/out-watches.ts): timeouts, a writer gone, a drain. */
export interface WatchHost {
  watchOut(conn: Connection, key: StoredTuple, stage: TupleWatch[2], reply: LeaseFrame, ms: number, ended: () => void): void;
  unwatchOut(key: StoredTuple): void;
  fate(key: StoredTuple, what: TupleFate): void;
}

interface Watched {
  /** The key of the watch in the core's OutWatches. */
  readonly key: StoredTuple;
  readonly reply: LeaseFrame;
  space: string;
  leaseCheck: ReturnType<typeof setTimeout> | undefined;
}

/** A tuple gone from Redis at its lease end was taken or expired: a taker's report gets this long to arrive. */
const REPORT_GRACE_MS = 1_000;

/**
 * `out` with ack `delivery` or `processing` across nodes. The writer's node keeps the watch (in
 * the core's OutWatches, which answers timeouts and forgets a writer gone) and writes its id into
 * the tuple's record in Redis. Whichever node hands the tuple to a taker, or ends it, reads the
 * watch from the record and reports the fate to the writer's node on that node's space channel
 * (`['f', id, fate]`); a report for a watch that is over is ignored. A writer's node that died
 * has nobody left to answer, as a single broker that stopped.
 *
 * A lease that ends is seen by the writer's node itself, at the lease end: the record still
 * there with its lease over (or gone with no taker's report) answers `reached: false`, as the
 * lease heap does on one node; a renewed one is looked at again at its new end.
 */
export class ClusterOutWatches {
  private readonly mine = new Map<number, Watched>();
  /** Reservations made on this node of tuples watched for `processing`: their ack is that stage. */
  private readonly reserved = new Map<string, TupleWatch>();
  private seq = 0;

  constructor(
    private readonly redis: Redis,
    private readonly node: string,
    private readonly host: WatchHost,
  ) {}

  get size(): number {
    return this.mine.size;
  }

  /** Watches an `out` about to be written; its reply's tid is set by written(). The watch goes into the tuple's record. */
  start(conn: Connection, space: string, stage: TupleWatch[2], reply: LeaseFrame, ms: number): TupleWatch {
    const id = ++this.seq;
    const key = storedTuple(0, '', space, [], Infinity, 0);
    const w: Watched = { key, reply, space, leaseCheck: undefined };
    this.mine.set(id, w);
    this.host.watchOut(conn, key, stage, reply, ms, () => {
      clearTimeout(w.leaseCheck);
      this.mine.delete(id);
    });
    return [this.node, id, stage];
  }

  /** The watched tuple is in Redis under `tid`: its lease end is looked at then. */
  written(watch: TupleWatch, tid: string, expiresAt: number): void {
    const w = this.mine.get(watch[1]);
    if (!w) return;
    w.reply.tid = tid;
    if (Number.isFinite(expiresAt)) this.checkAt(watch[1], w, expiresAt);
  }

  /** The `out` failed: its writer gets the error instead. */
  failed(watch: TupleWatch | undefined): void {
    const w = watch && this.mine.get(watch[1]);
    if (w) this.host.unwatchOut(w.key);
  }

  /** A taker of this node has `t` (read from Redis): for good, or under reservation `rid` (the `delivery` stage). */
  taken(t: StoredTuple, rid: string | undefined): void {
    const watch = watchOf(t);
    if (!watch) return;
    if (rid !== undefined && watch[2] === 'processing') this.reserved.set(rid, watch); // counts at its ack
    else this.reportWatch(watch, rid === undefined ? 'processed' : 'delivered');
  }

  /** A reservation of this node ends (`settled`: whether it was still on); returns `settled`. */
  settled(rid: string, ok: boolean, settled: Promise<boolean>): Promise<boolean> {
    const watch = this.reserved.get(rid);
    if (!watch) return settled;
    this.reserved.delete(rid);
    if (ok) void settled.then((done) => done && this.reportWatch(watch, 'processed'), () => undefined);
    return settled;
  }

  /** Tells the writer of `t` (read from Redis) what became of it: handed to a taker, or ended. */
  report(t: StoredTuple, what: TupleFate): void {
    this.reportWatch(watchOf(t), what);
  }

  reportWatch(watch: TupleWatch | undefined, what: TupleFate): void {
    if (!watch) return;
    const [node, id] = watch;
    if (node === this.node) return this.arrived(id, what);
    // Nobody listens when the writer's node is gone: nobody is left to answer.
    this.redis.spublish(spaceChannel(node), packr.pack(['f', id, what])).catch(() => undefined);
  }

  /** A report on this node's space channel. */
  arrived(id: number, what: TupleFate): void {
    const w = this.mine.get(id);
    if (w) this.host.fate(w.key, what);
  }

  private checkAt(id: number, w: Watched, at: number): void {
    clearTimeout(w.leaseCheck);
    w.leaseCheck = setTimeout(() => void this.checkLease(id, w), Math.min(Math.max(0, at - Date.now()), 2 ** 31 - 1));
  }

  private async checkLease(id: number, w: Watched): Promise<void> {
    let rec: Buffer | null;
    try {
      rec = await this.redis.hgetBuffer(spaceKey(w.space, 't'), w.reply.tid);
    } catch {
      return; // Redis away: the writer's timeout answers
    }
    if (this.mine.get(id) !== w) return;
    if (!rec) {
      w.leaseCheck = setTimeout(() => this.arrived(id, 'expired'), REPORT_GRACE_MS);
      return;
    }
    const t = tupleOf(w.space, w.reply.tid, 0, rec);
    if (t.expiresAt > Date.now()) this.checkAt(id, w, t.expiresAt);
    else this.arrived(id, 'expired');
  }
}
