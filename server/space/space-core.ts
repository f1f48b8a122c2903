import type { Logger } from 'pino';
import { LindenError, invalidField } from '../../protocol/errors.js';
import type {
  AbortFrame, BatchFrame, CancelFrame, CountFrame, LeaseFrame, NotifyFrame, OutFrame, ReadFrame, RenewFrame, SettleFrame, UnnotifyFrame,
} from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import { Tally } from '../counted-map.js';
import type { ResolvedOptions } from '../options.js';
import type { Store } from '../store/store.js';
import { ConnectionHoldings, type Reservation } from './holdings.js';
import { LeaseHeap } from '../../protocol/lease-heap.js';
import { NotifySubscriptions, sendEvent } from './notify-subscriptions.js';
import { OutWatches } from './out-watches.js';
import { SpaceReservations, unknownReservation } from './reservations.js';
import { recoverSpaces } from './space-recovery.js';
import type { SpaceCluster } from './space-cluster.js';
import { Space, type BatchStep, type Notifier, type SpaceEventType, type SpaceHost } from './space.js';
import type { StoredTuple } from './stored-tuple.js';
import { finite, outbound, tupleEntry } from './space-wire.js';
import type { Template } from './template.js';
import { packHeaders, packTupleFrame, packValues, tupleFrameSize, writeTupleFrame } from './tuple-frame.js';
import { SpaceAdmission } from './space-admission.js';
import type { Waiter } from './waiters.js';
import { WaitingRequests } from './waiting-requests.js';

/**
 * Linda tuple spaces: `out`, `in`/`rd` (blocking or not, one or all), notify, leases, batches,
 * reservations. Spaces are transient or persistent (their tuples kept in the store and
 * recovered at start); an `out` or `batch` that states `persistent` sets the mode of an empty
 * space and must agree with that of a space holding tuples.
 *
 * A transient space exists while it holds something: tuples (reserved ones too), waiting
 * requests, notify subscriptions. Requests that only look never make one, and every operation
 * that may have emptied a space ends with release(), so a name used once costs nothing after.
 * A persistent space stays, empty or not: its mode is a record in the store.
 */
export class SpaceCore implements SpaceHost {
  private readonly spaces = new Map<string, Space>();
  readonly tupleBytes = new Tally();
  private readonly holdings: ConnectionHoldings;
  private readonly reservations: SpaceReservations;
  private readonly leases: LeaseHeap<StoredTuple>;
  private readonly watches = new OutWatches();
  private readonly admission: SpaceAdmission;
  private readonly waits: WaitingRequests;
  private readonly notifiers: NotifySubscriptions;
  /** The tuple an `out` is writing, with its values as packed when measured: a waiter handed it gets these bytes. */
  private writing: StoredTuple | undefined;
  private writingPacked: Uint8Array | undefined;
  /** Cluster mode: out, in/rd and count go to the spaces shared by every node; set by the cluster node. */
  cluster: SpaceCluster | undefined;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly store: Store,
    /** A child of the broker's logger: one root logger per broker, so no line repeats a key. */
    private readonly log: Logger,
  ) {
    this.admission = new SpaceAdmission(options, store, this.tupleBytes, (err) => this.storeFailed(err));
    this.holdings = new ConnectionHoldings(options.maxWaitersPerConnection, options.maxWaitersTotal);
    this.reservations = new SpaceReservations(this.holdings, options.maxTimeoutMs, (r) => this.giveBack(r));
    this.waits = new WaitingRequests(this.spaces, this, this.holdings, options.maxTimeoutMs);
    this.notifiers = new NotifySubscriptions(this.spaces, this, this.holdings, this.admission);
    this.leases = new LeaseHeap(
      (t) => {
        t.lease = undefined; // its entry is spent: a reserved tuple put back needs a new one
        const space = this.spaces.get(t.space);
        if (!space) return;
        void space.expire(t);
        this.release(space);
      },
      (t, at) => t.live && t.expiresAt === at,
    );
  }

  /** Loads the persistent spaces and their live tuples from the store; call once, before serving clients. */
  async recover(): Promise<{ spaces: number; tuples: number }> {
    const recovered = await recoverSpaces(this.store, Date.now(), (name) => this.space(name));
    await this.admission.ids.resume(recovered.nextSeq);
    return { spaces: recovered.spaces, tuples: recovered.tuples };
  }

  /** The space, created (transient) if there is none: for what will be held in it. */
  space(name: string): Space {
    let space = this.spaces.get(name);
    if (!space) this.spaces.set(name, (space = new Space(name, this, this.store)));
    return space;
  }

  /** Forgets the space if it is transient and holds nothing; with it go its counters and rate samples. */
  release(space: Space): void {
    if (space.idle && this.spaces.get(space.name) === space) this.spaces.delete(space.name);
  }

  /** Whether the space now keeps its tuples in the store (a scheduled out without `persistent` is stored if so). */
  isPersistent(name: string): boolean {
    return this.spaces.get(name)?.persistent ?? false;
  }

  listSpaces(): Space[] {
    return [...this.spaces.values()];
  }

  out(conn: Connection, f: OutFrame): void {
    const ack = f.ack ?? 'none';
    if (ack !== 'none' && f.id === undefined) throw invalidField('out', 'id', 'is required when ack is not "none"');
    if (this.cluster) return this.cluster.out(conn, f);
    const space = this.space(f.space);
    try {
      this.write(conn, f, ack, space);
    } finally {
      this.release(space);
    }
  }

  private write(conn: Connection, f: OutFrame, ack: string, space: Space): void {
    const switchMode = space.mustSwitch(f.persistent);
    this.admission.checkRoom(f.persistent ?? space.persistent);
    this.admission.checkCount(f.space, space.tupleCount, 1);
    const { tuple, packed, ttl, shortened } = this.admission.tuple(conn, f.space, f.tuple, f.ttl, f.hdr);
    this.admission.checkBytes(f.space, tuple.bytes);
    if (switchMode) void space.setPersistent(f.persistent!, Date.now()); // stored ahead of the tuple: its promise covers both
    // Made only when it is sent: most outs in a stream of pairs ask for no answer.
    const reply: LeaseFrame | undefined = ack === 'none' ? undefined : { t: 'lease', re: f.id!, tid: tuple.tid, expiresAt: finite(tuple.expiresAt), ttl, shortened };
    // Watch before writing: a waiting taker may take the tuple inside write().
    if (reply && (ack === 'delivery' || ack === 'processing')) {
      this.watches.watch(conn, tuple, ack, reply, Math.min(f.timeout ?? this.options.receiptTimeoutMs, this.options.maxTimeoutMs));
    }
    this.writing = tuple;
    this.writingPacked = packed;
    let durable: Promise<void> | undefined;
    try {
      durable = space.write(tuple);
    } finally {
      this.writing = undefined;
      this.writingPacked = undefined;
    }
    if (!durable) {
      if (ack === 'submission') conn.sendFrame(reply!);
      return;
    }
    durable.then(
      () => { if (ack === 'submission') conn.sendFrame(reply!); },
      (err: unknown) => {
        // The writer hears of the failure unless its answer already went (a taker reached the stage).
        if (ack === 'none' || (ack !== 'submission' && !this.watches.has(tuple))) return;
        this.watches.unwatch(tuple);
        conn.sendError(err, f.id);
      },
    );
  }

  read(conn: Connection, f: ReadFrame): void {
    const take = f.t === 'in';
    if (f.reserve !== undefined && !take) throw invalidField(f.t, 'reserve', 'is only for in');
    if (f.reserve !== undefined && f.limit !== undefined) throw invalidField(f.t, 'reserve', 'cannot go with limit: an in with limit takes for good');
    if (this.cluster) return this.cluster.read(conn, f);
    const template = this.admission.template(conn, f.template);
    const space = this.spaces.get(f.space);
    const now = Date.now();
    if (f.limit !== undefined) {
      const items = space?.findAll(template, now, f.limit, take) ?? [];
      conn.sendFrame({ t: 'tuples', re: f.id, items: items.map((t) => tupleEntry(conn, t)) });
      if (space) this.release(space);
      return;
    }
    const found = space?.find(template, now, take && f.reserve === undefined);
    if (found) {
      if (f.reserve !== undefined) space!.reserve(found);
      this.answer(conn, f.id, found, f.reserve);
      this.release(space!);
      return;
    }
    if (f.wait === false) {
      conn.sendFrame({ t: 'tuple', re: f.id, tuple: null });
      return;
    }
    this.space(f.space).addWaiter(this.waits.start(conn, template, f));
  }

  count(conn: Connection, f: CountFrame): void {
    if (this.cluster) return this.cluster.count(conn, f);
    const template = this.admission.template(conn, f.template);
    const n = this.spaces.get(f.space)?.count(template, Date.now()) ?? 0;
    conn.sendFrame({ t: 'counted', re: f.id, count: n });
  }

  abort(conn: Connection, f: AbortFrame): void {
    this.waits.abort(conn, f);
  }

  notify(conn: Connection, f: NotifyFrame): void {
    this.notifiers.notify(conn, f);
  }

  unnotify(conn: Connection, f: UnnotifyFrame): void {
    this.notifiers.unnotify(conn, f);
  }

  renew(conn: Connection, f: RenewFrame): void {
    if (this.cluster) return this.cluster.renew(conn, f);
    const space = this.spaces.get(f.space);
    const t = this.live(space, f.space, f.tid);
    const ttl = Math.min(f.ttl, this.options.maxLeaseMs);
    const durable = space!.renew(t, Date.now() + ttl);
    this.reply(conn, f.id, durable, { t: 'lease', re: f.id, tid: t.tid, expiresAt: t.expiresAt, ttl, shortened: ttl < f.ttl });
  }

  cancel(conn: Connection, f: CancelFrame): void {
    if (this.cluster) return this.cluster.cancel(conn, f);
    const space = this.spaces.get(f.space);
    const t = this.live(space, f.space, f.tid);
    const durable = space!.cancel(t, Date.now());
    this.release(space!);
    this.reply(conn, f.id, durable, { t: 'ok', re: f.id });
  }

  batch(conn: Connection, f: BatchFrame): void {
    if (this.cluster) {
      const steps = this.admission.batchSteps(conn, f, (step) => this.admission.tuple(conn, f.space, step.tuple, step.ttl, step.hdr, false).tuple);
      return this.cluster.batch(conn, f, steps);
    }
    const space = this.space(f.space);
    try {
      this.runBatch(conn, f, space);
    } finally {
      this.release(space);
    }
  }

  private runBatch(conn: Connection, f: BatchFrame, space: Space): void {
    const switchMode = space.mustSwitch(f.persistent);
    const steps: BatchStep[] = this.admission.batchSteps(conn, f);
    const outs = steps.filter((s) => s.op === 'out').length;
    this.admission.checkRoom(outs > 0 && (f.persistent ?? space.persistent));
    this.admission.checkCount(f.space, space.tupleCount, outs, true);
    this.admission.checkBytes(f.space, steps.reduce((sum, s) => sum + (s.op === 'out' ? s.tuple.bytes : 0), 0));
    if (switchMode) void space.setPersistent(f.persistent!, Date.now());
    const { results, durable } = space.batch(steps, Date.now());
    this.reply(conn, f.id, durable, { t: 'batched', re: f.id, results: results.map((t) => tupleEntry(conn, t)) });
  }

  settle(conn: Connection, f: SettleFrame): void {
    const r = this.reservations.close(conn, f.rid);
    if (!r.space) {
      // Cluster mode: over already when another node's sweep put it back at its end.
      this.cluster!.settle(r.tuple.space, r.rid, f.ok).then(
        (settled) => (settled ? conn.sendFrame({ t: 'ok', re: f.id }) : conn.sendError(unknownReservation(f.rid), f.id)),
        (err: unknown) => conn.sendError(err, f.id),
      );
      return;
    }
    const durable = r.space.settle(r.tuple, f.ok);
    this.release(r.space);
    this.reply(conn, f.id, durable, { t: 'ok', re: f.id });
  }

  /** A connection went away: its waits end, its notify subscriptions go, its reservations return. */
  detach(conn: Connection): void {
    const held = this.holdings.take(conn);
    if (!held) return;
    this.waits.detach(held);
    this.notifiers.detach(held);
    this.reservations.giveBackAll(held);
    this.watches.detach(conn);
  }

  /** Resolves once every `out` waiting for `delivery`/`processing` has its answer (a drain waits on it). */
  writersAnswered(): Promise<void> {
    return this.watches.settled();
  }

  /** Answers every `out` still waiting as timed out (the broker stops); returns how many. */
  timeOutWriters(): number {
    return this.watches.timeOutAll();
  }

  /** What the core holds, for the memory tests (server/census.ts). */
  census(): { spaces: number; leases: number; outWatches: number } {
    return { spaces: this.spaces.size, leases: this.leases.size, outWatches: this.watches.size };
  }

  stop(): void {
    this.leases.stop();
    this.watches.stop();
  }

  // ---- SpaceHost, and WaiterHost for the cluster's spaces ----
  serve(w: Waiter, t: StoredTuple): boolean {
    if (w.conn.state !== 'open') return false;
    this.waits.end(w);
    const packed = t === this.writing ? this.writingPacked : undefined;
    this.answer(w.conn, w.requestId, t, w.reserveMs, this.spaces.get(w.space), w.rid, packed);
    return true;
  }

  reserved(conn: Connection, re: number, t: StoredTuple, reserveMs: number, rid: string): void {
    this.answer(conn, re, t, reserveMs, undefined, rid);
  }

  /** Cluster mode: files a blocked request of the connection; the cluster puts it where tuples will find it. */
  startWait(conn: Connection, template: Template, f: ReadFrame): Waiter {
    return this.waits.start(conn, template, f);
  }

  /** Cluster mode: ends a wait with an error, the cluster's store failed under it. */
  fail(w: Waiter, err: unknown): void {
    this.waits.fail(w, err);
  }

  event(n: Notifier, type: SpaceEventType, t: StoredTuple): void {
    sendEvent(n, type, t);
  }

  leased(t: StoredTuple): void {
    if (!Number.isFinite(t.expiresAt)) return;
    // One entry per tuple, moved in place by a renewal: the heap never holds stale copies.
    if (t.lease && this.leases.move(t.lease, t.expiresAt)) return;
    t.lease = this.leases.add(t, t.expiresAt);
  }

  unleased(t: StoredTuple): void {
    if (!t.lease) return;
    this.leases.remove(t.lease);
    t.lease = undefined;
  }

  fate(t: StoredTuple, what: 'delivered' | 'processed' | 'expired'): void {
    this.watches.fate(t, what);
  }

  /** Cluster mode: a writer waits on a tuple in Redis, `key` standing for it (server/cluster/cluster-out-watches.ts). */
  watchOut(conn: Connection, key: StoredTuple, stage: 'delivery' | 'processing', reply: LeaseFrame, ms: number, ended: () => void): void {
    this.watches.watch(conn, key, stage, reply, Math.min(ms, this.options.maxTimeoutMs), ended);
  }

  unwatchOut(key: StoredTuple): void {
    this.watches.unwatch(key);
  }

  storeFailed(err: unknown): void {
    this.admission.room.failed(err);
    this.log.error({ err }, 'space store write failed');
  }

  // ---- internals ----
  /** Sends `frame` at once, or once `durable` resolved; a failed write is answered with its error. */
  private reply(conn: Connection, re: number, durable: Promise<void> | undefined, frame: object): void {
    if (!durable) conn.sendFrame(frame);
    else durable.then(() => conn.sendFrame(frame), (err: unknown) => conn.sendError(err, re));
  }

  /**
   * Sends a found tuple; with `reserveMs` it stays reserved for this connection until settled
   * (in cluster mode under `clusterRid`, the cluster's id for the reservation).
   */
  private answer(
    conn: Connection, re: number, t: StoredTuple, reserveMs?: number, space = this.spaces.get(t.space), clusterRid?: string, packed?: Uint8Array,
  ): void {
    const rid = reserveMs !== undefined && (space || clusterRid !== undefined) ? this.reservations.open(conn, t, reserveMs, space, clusterRid) : undefined;
    if (conn.takesPacked) {
      const values = packed ?? packValues(t.values);
      const hdr = packHeaders(t.hdr);
      // In the frame being filled; else (closed, or large enough for the chain) as a piece of its own.
      const w = conn.frameToWrite(tupleFrameSize(re, t, values, rid, hdr));
      if (w) w.pos = writeTupleFrame(w.buf, w.pos, re, t, values, rid, hdr);
      else conn.send(packTupleFrame(re, t, values, rid, hdr));
      return;
    }
    // Built whole rather than spread from tupleEntry: one object of one shape for every answer.
    const frame: Record<string, unknown> = { t: 'tuple', re, tid: t.tid, tuple: outbound(conn, t.values), expiresAt: finite(t.expiresAt) };
    if (t.hdr !== undefined) frame.hdr = t.hdr;
    if (rid !== undefined) frame.rid = rid;
    conn.sendFrame(frame);
  }

  /** A reservation ends without ack (its time, its connection gone): the tuple goes back. */
  private giveBack({ tuple: t, space, rid }: Reservation): void {
    if (space) {
      void space.settle(t, false);
      this.release(space);
      return;
    }
    this.cluster?.settle(t.space, rid, false).catch((err: unknown) => this.log.warn({ err, rid }, 'cluster spaces: a reservation could not end; the sweep puts it back'));
  }

  private live(space: Space | undefined, name: string, tid: string): StoredTuple {
    const t = space?.tuple(tid);
    if (!t || !t.live || t.expiresAt <= Date.now()) {
      throw new LindenError('UNKNOWN_ID', `no live tuple ${tid} in space "${name}"`, { tid });
    }
    return t;
  }
}
