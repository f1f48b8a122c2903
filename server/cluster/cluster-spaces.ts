import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { LindenError } from '../../protocol/errors.js';
import type { BatchFrame, CancelFrame, CountFrame, LeaseFrame, OutFrame, ReadFrame, RenewFrame } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import type { ResolvedOptions } from '../options.js';
import type { SpaceCluster } from '../space/space-cluster.js';
import { finite, inbound, inboundTemplate, inboundTuple, tupleEntry } from '../space/space-wire.js';
import type { StoredTuple } from '../space/stored-tuple.js';
import type { Template } from '../space/template.js';
import type { BatchStep, Notifier, SpaceEventType } from '../space/space.js';
import type { Waiter } from '../space/waiters.js';
import { ClusterBatches } from './cluster-batch.js';
import { ClusterNotifiers, type EventSubscriber } from './cluster-notifiers.js';
import { ClusterOutWatches, type WatchHost } from './cluster-out-watches.js';
import { ClusterReservations } from './cluster-reservations.js';
import { FiledWaiters, packWaiter, type Reservation } from './filed-waiters.js';
import { LEASES_KEY, OFFERS_KEY, SPACE_BYTES_KEY } from './keys.js';
import { equalityKeys, packRecord, tupleOf, watchOf } from './space-entries.js';
import { SPACE_CANCEL, SPACE_OUT, SPACE_PAGE, SPACE_REPLACE, SPACE_TAKE, SPACE_WAIT, spaceKey } from './space-scripts.js';
import { SpaceHandovers } from './space-handovers.js';
import { SpaceRegistry } from './space-registry.js';
import { scanSpace } from './space-scan.js';
import { OFFER_MS, SpaceSweeps } from './space-sweeps.js';

type Arg = string | number | Buffer;
type Scripted = Redis & {
  lindenSpaceOut(...args: Arg[]): Promise<number[]>;
  lindenSpacePageBuffer(...args: Arg[]): Promise<(Buffer | number)[]>;
  lindenSpaceTakeBuffer(...args: Arg[]): Promise<Buffer | null>;
  lindenSpaceWait(...args: Arg[]): Promise<number>;
  /** Defined by SpaceHandovers, on the same connection. */
  lindenSpaceUnwait(...args: Arg[]): Promise<number>;
  lindenSpaceReplace(...args: Arg[]): Promise<number>;
  lindenSpaceCancel(...args: Arg[]): Promise<number>;
};

/** What the space core does for the waiters of this node. */
export interface WaiterHost extends WatchHost {
  /** Files a blocked request of `conn` (limits, duplicate ids, its timeout); throws like a local wait. */
  startWait(conn: Connection, template: Template, f: ReadFrame): Waiter;
  /** Answers the waiter (under its reservation `w.rid`, if any); false when its connection can no longer take it. */
  serve(w: Waiter, t: StoredTuple): boolean;
  /** Answers an `inp` that took `t` under reservation `rid`, which the core ends at its time. */
  reserved(conn: Connection, re: number, t: StoredTuple, reserveMs: number, rid: string): void;
  /** Ends the wait with an error (Redis failed). */
  fail(w: Waiter, err: unknown): void;
  /** Sends a notify subscription its event. */
  event(n: Notifier, type: SpaceEventType, t: StoredTuple): void;
}

/** How one of this node's waiters is filed in Redis, to file it again after the node resubscribed. */
interface Filing {
  source: Buffer;
  reserve: Reservation | undefined;
  /** Filed in Redis (not only waiting for the node to listen). */
  filed: boolean;
}

/**
 * The cluster's tuple spaces in Redis (layout and scripts in space-scripts.ts). Matching runs here,
 * over candidates read oldest first from the arity's index; a take is a script that removes one
 * tuple id, so of two nodes racing for a tuple exactly one gets it.
 *
 * Blocked requests are filed in Redis in arrival order across the nodes, filed first and then
 * looking, so a tuple written meanwhile is either seen or offered to them: a tuple written while
 * waiters of its arity exist stays hidden until offered to them (space-handovers.ts).
 */
export class ClusterSpaces implements SpaceCluster {
  private readonly redis: Scripted;
  readonly notifiers: ClusterNotifiers;
  /** This node's filed waiters by their local id (Waiter.seq). */
  private readonly waiting = new Map<number, Waiter>();
  private readonly filings = new WeakMap<Waiter, Filing>();
  private readonly filed: FiledWaiters;
  readonly reservations: ClusterReservations;
  readonly sweeps: SpaceSweeps;
  /** Resolves while this node listens on its space channel: waiters are filed only then, or tuples for them would find no one. */
  private listening!: Promise<void>;
  private listen: (() => void) | undefined;
  /** Offers of hidden tuples to the waiters, hand-overs to this node's (and the reports to its out watches). */
  private readonly handovers: SpaceHandovers;
  /** Writers waiting for a taker of their tuple (out with ack delivery/processing), and the fates reported to them. */
  readonly outWatches: ClusterOutWatches;
  private readonly batches: ClusterBatches;
  /** The spaces this node uses, noted in Redis for the admin views. */
  private readonly registry: SpaceRegistry;

  constructor(
    redis: Redis,
    private readonly node: string,
    private readonly host: WaiterHost,
    subscriber: EventSubscriber,
    private readonly options: ResolvedOptions,
    private readonly log: Logger,
  ) {
    this.redis = redis as Scripted;
    this.registry = new SpaceRegistry(redis);
    this.filed = new FiledWaiters(options.maxArity);
    this.outWatches = new ClusterOutWatches(redis, node, host);
    this.batches = new ClusterBatches(redis, {
      scan: (space, template, visit) => scanSpace(this.redis, space, template, visit),
      offer: (space, t, rec, wseq) => this.handovers.offer(space, t.tid, t.seq, rec, t.values, wseq),
      taken: (t) => this.outWatches.report(t, 'processed'),
    }, options);
    this.notifiers = new ClusterNotifiers(redis, node, subscriber, (n, type, t) => host.event(n, type, t));
    this.deaf();
    this.reservations = new ClusterReservations(redis, node, (t, rec, rid) => this.handovers.offer(t.space, t.tid, t.seq, rec, t.values, -1, rid), log);
    this.handovers = new SpaceHandovers(redis, node, { waiting: this.waiting, serve: (w, t) => host.serve(w, t), reservations: this.reservations, outWatches: this.outWatches }, this.filed, log);
    this.sweeps = new SpaceSweeps(redis, (space, tid, rec) => {
      const t = tupleOf(space, tid, Number(tid), rec);
      return this.handovers.offer(space, tid, t.seq, rec, t.values, -1);
    }, log);
    // Out and page take the equality index keys after their fixed ones: the key count comes first.
    this.redis.defineCommand('lindenSpaceOut', { lua: SPACE_OUT });
    this.redis.defineCommand('lindenSpacePage', { lua: SPACE_PAGE });
    this.redis.defineCommand('lindenSpaceTake', { numberOfKeys: 4, lua: SPACE_TAKE });
    this.redis.defineCommand('lindenSpaceWait', { numberOfKeys: 3, lua: SPACE_WAIT });
    this.redis.defineCommand('lindenSpaceReplace', { numberOfKeys: 4, lua: SPACE_REPLACE });
    this.redis.defineCommand('lindenSpaceCancel', { numberOfKeys: 4, lua: SPACE_CANCEL });
  }

  /**
   * This node now receives on its space channel (subscribed, again after a reconnection). Its
   * filed waiters look again, as new ones do: a tuple sent to one while the node did not listen
   * is either still visible (found now) or was put back (a claim finds no listener, so it does
   * not happen; a `rd` dropped meanwhile is filed again).
   */
  listened(): void {
    const again = this.listen ? [...this.waiting.values()].filter((w) => this.filings.get(w)?.filed) : [];
    this.listen?.();
    this.listen = undefined;
    for (const w of again) this.fileAndLook(w);
  }

  /** This node no longer receives on its space channel: new waiters wait until it does again. */
  deaf(): void {
    if (this.listen) return; // deaf already: the waiters wait on the promise they have
    this.listening = new Promise((resolve) => {
      this.listen = resolve;
    });
  }

  out(conn: Connection, f: OutFrame): void {
    const ack = f.ack ?? 'none';
    const { values } = inboundTuple(conn, f.tuple, this.options.maxArity);
    this.registry.note(f.space);
    const ttl = f.ttl === undefined ? null : Math.min(f.ttl, this.options.maxLeaseMs);
    const expiresAt = ttl === null ? Infinity : Date.now() + ttl;
    const reply: LeaseFrame = { t: 'lease', re: f.id!, tid: '', expiresAt: finite(expiresAt), ttl, shortened: ttl !== null && ttl < f.ttl! };
    // Watched before it is written: a waiting taker may have it before the script's answer is read.
    const watch = ack === 'delivery' || ack === 'processing'
      ? this.outWatches.start(conn, f.space, ack, reply, f.timeout ?? this.options.receiptTimeoutMs)
      : undefined;
    const rec = packRecord(values, expiresAt, f.hdr, watch);
    const k = (part: string) => spaceKey(f.space, part);
    const arity = values.length;
    const eq = equalityKeys(f.space, values);
    const lease = Number.isFinite(expiresAt) ? expiresAt : '';
    this.redis.lindenSpaceOut(
      10 + eq.length, k('t'), k(`a:${arity}`), k('seq'), k(`w:${arity}`), k('wseq'), k('n'), k('x'), SPACE_BYTES_KEY, LEASES_KEY, OFFERS_KEY, ...eq,
      rec, this.options.maxTuplesPerSpace, k('events'), lease, arity, this.options.maxSpaceBytesTotal, f.space, Date.now() + OFFER_MS,
    ).then(
      async ([seq, hidden, wseq]) => {
        if (seq === -1) {
          throw new LindenError('SPACE_FULL', `space "${f.space}" holds ${this.options.maxTuplesPerSpace} tuples (maxTuplesPerSpace)`, { space: f.space, limit: 'maxTuplesPerSpace' });
        }
        if (seq === -2) {
          const limit = this.options.maxSpaceBytesTotal;
          throw new LindenError(
            'SPACE_FULL',
            `the spaces hold ${hidden} bytes of tuples; ${rec.length} more would pass the limit for all spaces together (maxSpaceBytesTotal ${limit})`,
            { space: f.space, limit: 'maxSpaceBytesTotal' },
          );
        }
        const tid = String(seq);
        reply.tid = tid;
        if (watch) this.outWatches.written(watch, tid, expiresAt);
        // Answered once handed over or visible, as a local out: a read sent after the answer finds it.
        if (hidden === 1) await this.handovers.offer(f.space, tid, seq!, rec, values, wseq!);
        if (ack === 'submission') conn.sendFrame(reply);
      },
    ).catch((err: unknown) => {
      this.outWatches.failed(watch);
      this.failed(conn, f.id, err);
    });
  }

  read(conn: Connection, f: ReadFrame): void {
    const take = f.t === 'in';
    const reserve = f.reserve === undefined ? undefined : { ms: Math.min(f.reserve, this.options.maxTimeoutMs), rid: this.reservations.newId() };
    const template = inboundTemplate(conn, f.template, this.options.maxArity);
    if (f.limit !== undefined || f.wait === false) {
      const limit = f.limit ?? 1;
      this.find(f.space, template, take, limit, undefined, reserve).then((found) => {
        if (take) for (const t of found) this.outWatches.taken(t, reserve?.rid);
        if (f.limit !== undefined) conn.sendFrame({ t: 'tuples', re: f.id, items: found.map((t) => tupleEntry(conn, t)) });
        else if (found[0] && reserve) this.host.reserved(conn, f.id, found[0], reserve.ms, reserve.rid);
        else if (found[0]) conn.sendFrame({ t: 'tuple', re: f.id, ...tupleEntry(conn, found[0]) });
        else conn.sendFrame({ t: 'tuple', re: f.id, tuple: null });
      }).catch((err: unknown) => this.failed(conn, f.id, err));
      return;
    }
    const w = this.host.startWait(conn, template, f);
    this.registry.note(f.space);
    w.rid = reserve?.rid;
    this.waiting.set(w.seq, w);
    this.filings.set(w, { source: packWaiter(inbound(conn, f.template), take, reserve), reserve, filed: false });
    this.fileAndLook(w);
  }

  /** Filed first, then looked for: a tuple written meanwhile is either seen by the look or offered to the waiter. */
  private fileAndLook(w: Waiter): void {
    const filing = this.filings.get(w)!;
    const member = `${this.node}|${w.seq}`;
    const k = (part: string) => spaceKey(w.space, part);
    this.listening
      .then(async () => {
        if (this.waiting.get(w.seq) !== w) return []; // ended before it was filed
        await this.redis.lindenSpaceWait(k(`w:${w.template.arity}`), k('wt'), k('wseq'), member, filing.source);
        filing.filed = true;
        return this.find(w.space, w.template, w.take, 1, member, filing.reserve);
      })
      .then(([t]) => {
        // A waiter filed again (after a resubscription) just as it was served or ended: no entry left behind.
        const mine = this.waiting.get(w.seq) === w;
        if (!mine && filing.filed) this.redis.lindenSpaceUnwait(k(`w:${w.template.arity}`), k('wt'), member).catch(() => undefined);
        if (!t) return;
        // A waiter that ended here meanwhile (timeout, abort) was answered already: a taken tuple goes back.
        if (mine) this.waiting.delete(w.seq);
        if (mine && this.host.serve(w, t)) {
          if (w.take) this.outWatches.taken(t, filing.reserve?.rid);
        } else if (w.take) void this.handovers.giveBack(t, filing.reserve?.rid);
      })
      .catch((err: unknown) => {
        this.log.warn({ err, space: w.space }, 'cluster spaces: filing a waiter failed');
        if (this.waiting.get(w.seq) === w) this.host.fail(w, err);
      });
  }

  count(conn: Connection, f: CountFrame): void {
    const template = inboundTemplate(conn, f.template, this.options.maxArity);
    let n = 0;
    scanSpace(this.redis, f.space, template, async (t) => {
      if (template.matches(t.values)) n++;
      return false;
    }).then(() => conn.sendFrame({ t: 'counted', re: f.id, count: n }), (err: unknown) => this.failed(conn, f.id, err));
  }

  renew(conn: Connection, f: RenewFrame): void {
    const ttl = Math.min(f.ttl, this.options.maxLeaseMs);
    const tuples = spaceKey(f.space, 't');
    const leases = spaceKey(f.space, 'x');
    // The record's size changes with its lease (null -> a number): the cluster's byte count follows.
    const attempt = async (): Promise<void> => {
      const t = await this.liveTuple(f.space, f.tid);
      const expiresAt = Date.now() + ttl;
      // Replaced only if nobody changed it since it was read (another renew, a take and a new out cannot share its id).
      const renewed = packRecord(t.values, expiresAt, t.hdr, watchOf(t));
      if (!(await this.redis.lindenSpaceReplace(tuples, leases, SPACE_BYTES_KEY, LEASES_KEY, f.tid, t.rec, renewed, expiresAt, t.values.length, f.space))) return attempt();
      conn.sendFrame({ t: 'lease', re: f.id, tid: f.tid, expiresAt, ttl, shortened: ttl < f.ttl });
    };
    attempt().catch((err: unknown) => this.failed(conn, f.id, err));
  }

  cancel(conn: Connection, f: CancelFrame): void {
    this.liveTuple(f.space, f.tid)
      .then(async (t) => {
        const k = (part: string) => spaceKey(f.space, part);
        if (!(await this.redis.lindenSpaceCancel(k('t'), k(`a:${t.values.length}`), k('n'), SPACE_BYTES_KEY, f.tid, k('events')))) throw unknownTuple(f.space, f.tid);
        this.outWatches.report(t, 'expired');
        conn.sendFrame({ t: 'ok', re: f.id });
      })
      .catch((err: unknown) => this.failed(conn, f.id, err));
  }

  batch(conn: Connection, f: BatchFrame, steps: BatchStep[]): void {
    if (steps.some((step) => 'out' in step)) this.registry.note(f.space);
    this.batches.run(f.space, steps).then(
      (results) => conn.sendFrame({ t: 'batched', re: f.id, results: results.map((t) => tupleEntry(conn, t)) }),
      (err: unknown) => this.failed(conn, f.id, err),
    );
  }

  /** The tuple with its record as read; UNKNOWN_ID when it is gone or its lease ended. */
  private async liveTuple(space: string, tid: string): Promise<StoredTuple & { rec: Buffer }> {
    const rec = await this.redis.hgetBuffer(spaceKey(space, 't'), tid);
    const t = rec && tupleOf(space, tid, 0, rec);
    if (!t || t.expiresAt <= Date.now()) throw unknownTuple(space, tid);
    return Object.assign(t, { rec: rec! }); // the same object: its record and watch stay known (space-entries.ts)
  }

  addNotifier(n: Notifier): Promise<void> {
    this.registry.note(n.space);
    return this.notifiers.add(n);
  }

  removeNotifier(n: Notifier): void {
    this.notifiers.remove(n);
  }

  dropWaiter(w: Waiter): void {
    if (!this.waiting.delete(w.seq)) return;
    const k = (part: string) => spaceKey(w.space, part);
    this.redis.lindenSpaceUnwait(k(`w:${w.template.arity}`), k('wt'), `${this.node}|${w.seq}`).catch(() => undefined);
  }

  settle(space: string, rid: string, ok: boolean): Promise<boolean> {
    return this.outWatches.settled(rid, ok, this.reservations.settle(space, rid, ok));
  }

  /** What arrived on this node's space channel: a tuple for one of its waiters, or a report to one of its out watches. */
  received(buf: Buffer): void {
    this.handovers.received(buf);
  }

  /**
   * The oldest matches (up to `limit`), taken when `take`, under `reserve` when given; with
   * `member`, for that waiter, who is served at most once.
   */
  private async find(space: string, template: Template, take: boolean, limit: number, member?: string, reserve?: Reservation): Promise<StoredTuple[]> {
    const out: StoredTuple[] = [];
    if (limit <= 0) return out;
    const k = (part: string) => spaceKey(space, part);
    const arity = template.arity;
    if (reserve && member === undefined) await this.reservations.file(space, reserve.rid, reserve.ms);
    await scanSpace(this.redis, space, template, async (t) => {
      if (!template.matches(t.values)) return false;
      if (member !== undefined) {
        // Filed before the claim, which files it again (GT: the later end stays), as every node claiming for a waiter does.
        if (take && reserve) await this.reservations.file(space, reserve.rid, reserve.ms);
        // 0: the waiter is gone (served meanwhile, or ended); -1: the tuple is gone, look further.
        const got = take
          ? await this.handovers.claim(space, arity, member, t.tid, reserve?.rid ?? '', '', Date.now() + (reserve?.ms ?? 0), '')
          : await this.redis.lindenSpaceUnwait(k(`w:${arity}`), k('wt'), member);
        if (got === 1) out.push(t);
        return got !== -1;
      }
      if (reserve && !(await this.reservations.take(space, arity, t.tid, reserve.rid))) return false;
      if (take && !reserve && !(await this.redis.lindenSpaceTakeBuffer(k(`a:${arity}`), k('t'), k('n'), SPACE_BYTES_KEY, t.tid, k('events'), 'i'))) return false;
      out.push(t);
      return out.length >= limit;
    });
    if (reserve && member === undefined && out.length === 0) this.reservations.forget(space, reserve.rid);
    return out;
  }

  /**
   * Resolves once the reservations this node is ending and the tuples it is offering are done: a
   * stopping node finishes them, rather than leave a tuple hidden or claimed and not handed over.
   */
  async idle(): Promise<void> {
    await this.reservations.idle();
    await this.handovers.idle();
  }

  /** A request Redis did not answer is STORE_UNAVAILABLE to its client, as for durable queues. */
  private failed(conn: Connection, id: number | undefined, err: unknown): void {
    if (err instanceof LindenError) {
      conn.sendError(err, id);
      return;
    }
    this.log.warn({ err }, 'cluster spaces: Redis failed');
    conn.sendError(new LindenError('STORE_UNAVAILABLE', `Redis did not answer for the tuple space: ${String((err as Error)?.message ?? err).slice(0, 200)}`), id);
  }
}

function unknownTuple(space: string, tid: string): LindenError {
  return new LindenError('UNKNOWN_ID', `no live tuple ${tid} in space "${space}"`, { tid });
}
