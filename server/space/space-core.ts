import type { Logger } from 'pino';
import { LindenError } from '../../protocol/errors.js';
import type {
  AbortFrame, BatchFrame, CancelFrame, CountFrame, EventFrame, Headers, LeaseFrame, NotifyFrame, OutFrame, ReadFrame, RenewFrame, SettleFrame,
  UnnotifyFrame,
} from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import { Tally } from '../counted-map.js';
import type { ResolvedOptions } from '../options.js';
import type { Store } from '../store/store.js';
import { ConnectionHoldings, type Holdings, type Reservation } from './holdings.js';
import { LeaseHeap } from '../../protocol/lease-heap.js';
import { OutWatches } from './out-watches.js';
import { SpaceReservations, unknownReservation } from './reservations.js';
import { recoverSpaces } from './space-recovery.js';
import type { SpaceCluster } from './space-cluster.js';
import { Space, type BatchStep, type Notifier, type SpaceEventType, type SpaceHost } from './space.js';
import type { StoredTuple } from './stored-tuple.js';
import { finite, outbound, tupleEntry } from './space-wire.js';
import type { Template } from './template.js';
import { packHeaders, packValues, tupleFrameSize, writeTupleFrame } from './tuple-frame.js';
import { SpaceAdmission } from './space-admission.js';
import type { Waiter } from './waiters.js';

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
  private waiterSeq = 0;
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
  private release(space: Space): void {
    if (space.idle && this.spaces.get(space.name) === space) this.spaces.delete(space.name);
  }

  listSpaces(): Space[] {
    return [...this.spaces.values()];
  }

  out(conn: Connection, f: OutFrame): void {
    const ack = f.ack ?? 'none';
    if (ack !== 'none' && f.id === undefined) throw invalid('out', 'id', 'is required when ack is not "none"');
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
    if (f.reserve !== undefined && !take) throw invalid(f.t, 'reserve', 'is only for in');
    if (f.reserve !== undefined && f.limit !== undefined) throw invalid(f.t, 'reserve', 'cannot go with limit: an in with limit takes for good');
    if (this.cluster) return this.cluster.read(conn, f);
    const template = this.template(conn, f.template);
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
    this.space(f.space).addWaiter(this.startWait(conn, template, f));
  }

  count(conn: Connection, f: CountFrame): void {
    if (this.cluster) return this.cluster.count(conn, f);
    const template = this.template(conn, f.template);
    const n = this.spaces.get(f.space)?.count(template, Date.now()) ?? 0;
    conn.sendFrame({ t: 'counted', re: f.id, count: n });
  }

  abort(conn: Connection, f: AbortFrame): void {
    const w = this.held(conn).waiters.get(f.target);
    if (w) {
      this.endWait(conn, w, true);
      conn.sendFrame({ t: 'tuple', re: w.requestId, tuple: null, aborted: true });
    }
    conn.sendFrame({ t: 'ok', re: f.id });
  }

  notify(conn: Connection, f: NotifyFrame): void {
    const held = this.held(conn);
    if (held.notifiers.has(f.nid)) throw new LindenError('DUPLICATE_ID', `notify id ${f.nid} is already in use`, { nid: f.nid });
    this.holdings.checkRoom(held);
    const n: Notifier = {
      nid: f.nid, space: f.space, conn, template: this.template(conn, f.template),
      events: new Set<SpaceEventType>(f.events ?? ['out', 'in', 'expire']), seq: 0,
    };
    held.notifiers.set(f.nid, n);
    if (this.cluster) {
      this.cluster.addNotifier(n).then(() => conn.sendFrame({ t: 'ok', re: f.id }), (err: unknown) => {
        if (held.notifiers.get(f.nid) === n) held.notifiers.delete(f.nid);
        this.dropNotifier(n);
        conn.sendError(err, f.id);
      });
      return;
    }
    this.space(f.space).addNotifier(n); // the template compiled above: a refused one makes no space
    conn.sendFrame({ t: 'ok', re: f.id });
  }

  unnotify(conn: Connection, f: UnnotifyFrame): void {
    const held = this.held(conn);
    const n = held.notifiers.get(f.nid);
    if (!n) throw new LindenError('UNKNOWN_ID', `no notify subscription with id ${f.nid}`, { nid: f.nid });
    held.notifiers.delete(f.nid);
    this.dropNotifier(n);
    conn.sendFrame({ t: 'ok', re: f.id });
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
    for (const w of held.waiters.values()) {
      clearTimeout(w.timer);
      this.dropWaiter(w);
    }
    for (const n of held.notifiers.values()) this.dropNotifier(n);
    held.waiters.clear(); // out of the broker-wide count (maxWaitersTotal)
    held.notifiers.clear();
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

  // ---- SpaceHost ----
  serve(w: Waiter, t: StoredTuple): boolean {
    if (w.conn.state !== 'open') return false;
    this.endWait(w.conn, w);
    const packed = t === this.writing ? this.writingPacked : undefined;
    this.answer(w.conn, w.requestId, t, w.reserveMs, this.spaces.get(w.space), w.rid, packed);
    return true;
  }

  reserved(conn: Connection, re: number, t: StoredTuple, reserveMs: number, rid: string): void {
    this.answer(conn, re, t, reserveMs, undefined, rid);
  }

  event(n: Notifier, type: SpaceEventType, t: StoredTuple): void {
    const frame: EventFrame = { t: 'event', nid: n.nid, seq: ++n.seq, type, tid: t.tid, tuple: outbound(n.conn, t.values) };
    if (t.hdr !== undefined) frame.hdr = t.hdr;
    n.conn.sendEvent(frame);
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

  /** Files a blocked request of the connection (limits, its timeout); the caller puts it where tuples will find it. */
  startWait(conn: Connection, template: Template, f: ReadFrame): Waiter {
    const held = this.held(conn);
    this.holdings.checkRoom(held);
    if (held.waiters.has(f.id)) throw new LindenError('DUPLICATE_ID', `request id ${f.id} is already waiting`, { id: f.id });
    const w: Waiter = {
      seq: this.waiterSeq++, space: f.space, template, take: f.t === 'in', conn, requestId: f.id,
      reserveMs: f.reserve, timer: undefined, queue: undefined,
    };
    if (f.timeout !== undefined) {
      w.timer = setTimeout(() => {
        this.endWait(conn, w, true);
        conn.sendFrame({ t: 'tuple', re: f.id, tuple: null });
      }, Math.min(f.timeout, this.options.maxTimeoutMs));
    }
    held.waiters.set(f.id, w);
    return w;
  }

  /** Ends a wait with an error: the cluster's store failed under it. */
  fail(w: Waiter, err: unknown): void {
    this.endWait(w.conn, w, true);
    w.conn.sendError(err, w.requestId);
  }

  /**
   * Ends a wait. `release` when nothing else is under way in its space; a waiter served inside a
   * write leaves that to the write, whose space is not to vanish under it.
   */
  private endWait(conn: Connection, w: Waiter, release = false): void {
    clearTimeout(w.timer);
    this.held(conn).waiters.delete(w.requestId);
    if (release) this.dropWaiter(w);
    else this.spaces.get(w.space)?.removeWaiter(w);
  }

  private dropWaiter(w: Waiter): void {
    this.cluster?.dropWaiter(w);
    const space = this.spaces.get(w.space);
    if (!space) return;
    space.removeWaiter(w);
    this.release(space);
  }

  private dropNotifier(n: Notifier): void {
    if (this.cluster) return this.cluster.removeNotifier(n);
    const space = this.spaces.get(n.space);
    if (!space) return;
    space.removeNotifier(n);
    this.release(space);
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
      conn.writeInPlace(tupleFrameSize(re, t, values, rid, hdr), (buf, p) => writeTupleFrame(buf, p, re, t, values, rid, hdr));
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

  private template(conn: Connection, wire: unknown[]): Template {
    return this.admission.template(conn, wire);
  }

  private live(space: Space | undefined, name: string, tid: string): StoredTuple {
    const t = space?.tuple(tid);
    if (!t || !t.live || t.expiresAt <= Date.now()) {
      throw new LindenError('UNKNOWN_ID', `no live tuple ${tid} in space "${name}"`, { tid });
    }
    return t;
  }

  private held(conn: Connection): Holdings {
    return this.holdings.of(conn);
  }
}

function invalid(t: string, field: string, problem: string): LindenError {
  return new LindenError('INVALID_FRAME', `invalid "${t}" message: field "${field}" ${problem}`, { t, field });
}
