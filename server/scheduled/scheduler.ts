import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { LindenError, invalidField } from '../../protocol/errors.js';
import type { AckLevel, LeaseFrame, OutFrame, PubFrame, ReceiptFrame, UnscheduleFrame } from '../../protocol/frames.js';
import { LeaseHeap, type Lease } from '../../protocol/lease-heap.js';
import { assertTopic } from '../../protocol/topics.js';
import type { Connection } from '../connection.js';
import type { ResolvedOptions } from '../options.js';
import { payloadWithin } from '../pubsub/payload.js';
import { checkRetainPub } from '../pubsub/retain-rules.js';
import { inboundTuple } from '../space/space-wire.js';
import { StoreRoom } from '../store/store-room.js';
import type { Store } from '../store/store.js';
import { ClusterSchedules } from './cluster-schedules.js';
import { answeringGhost, dueFrame, ghostConnection, type ScheduledTarget } from './replay.js';
import {
  SCHEDULED_PREFIX, deleteScheduled, putScheduled, type ScheduledOut, type ScheduledPub, type ScheduledRecord, type ScheduledView,
} from './scheduled-records.js';

/** A schedule in memory: every one, persistent or not, is here until it is due or cancelled. */
interface Scheduled {
  record: ScheduledRecord;
  persistent: boolean;
  lease: Lease<Scheduled> | undefined;
  /** The store write of a persistent one, until it committed: it is not routed before. */
  written: Promise<void> | undefined;
  /** The publisher still waiting for a `delivery`/`processing` answer, while it is connected. */
  waiting: { conn: Connection; re: number; ack: AckLevel; timeout?: number } | undefined;
}

/** A due persistent schedule that could not be routed (QUEUE_FULL, STORE_FULL) is tried again this much later. */
const RETRY_MS = 1_000;

/**
 * Scheduled delivery (protocol.md §9.10): publishes and outs with `delay` or `deliverAt`, held
 * until due and then handed to the cores as if they arrived then. One heap on wall-clock time
 * with one armed timer serves them all (DESIGN.md §5 "Time"); LeaseHeap caps its timer below
 * 2^31 ms and re-arms, so a due time a year away costs nothing until it nears. Wall clock, not a
 * monotonic one: persistent schedules outlive the process, and the due time is a time of day.
 */
export class Scheduler {
  private readonly entries = new Map<string, Scheduled>();
  /** The schedules whose publisher waits for a later receipt: what a closing connection must let go of. */
  private readonly awaited = new Set<Scheduled>();
  private readonly heap = new LeaseHeap<Scheduled>((s) => this.due(s));
  private readonly room: StoreRoom;
  private bytes = 0;
  private seq = 0;
  private stopped = false;
  /** Cluster mode: persistent schedules live in Redis instead of the store. */
  private remote: ClusterSchedules | undefined;
  readonly stats = { scheduled: 0, delivered: 0, cancelled: 0 };

  constructor(
    private readonly options: ResolvedOptions,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly idPrefix: string,
    private readonly target: ScheduledTarget,
  ) {
    this.room = StoreRoom.of(store, options.maxStoreBytes);
  }

  /** Reads the persistent schedules back; those already due are routed as soon as the broker serves. */
  async recover(): Promise<number> {
    for (const [, value] of await this.store.scan(SCHEDULED_PREFIX)) {
      const record = value as ScheduledRecord;
      this.admit({ record, persistent: true, lease: undefined, written: undefined, waiting: undefined });
    }
    return this.entries.size;
  }

  /** Cluster mode: persistent schedules go to Redis, where any node routes them if their own cannot. */
  useCluster(redis: Redis): void {
    this.remote = new ClusterSchedules(redis, this.log, (r) => this.routeConfirmed(r), (id) => this.entries.has(id));
  }

  /** Starts the clock: call once the cores are ready to take what falls due. */
  start(): void {
    for (const s of this.entries.values()) s.lease ??= this.heap.add(s, s.record.due);
  }

  get count(): number {
    return this.entries.size;
  }

  get heldBytes(): number {
    return this.bytes;
  }

  publish(conn: Connection, f: PubFrame): void {
    const ack = f.ack ?? 'none';
    if (ack !== 'none' && f.id === undefined) throw invalidField('pub', 'id', 'is required when ack is not "none"');
    if (f.reply) throw invalidField('pub', 'reply', 'cannot go with delay or deliverAt: a request is answered now');
    if (f.ttl !== undefined && f.mode !== 'persistent') throw invalidField('pub', 'ttl', 'is for persistent messages: a transient one is delivered now or never');
    assertTopic(f.topic);
    // Retained when due; what cluster mode does not take is refused now, not at the due time.
    if (f.retain === true) checkRetainPub(f, ack, this.options.redis !== undefined);
    const bytes = payloadWithin(conn, f.data).byteLength();
    if (f.mid !== undefined && this.entries.has(f.mid)) {
      throw new LindenError('DUPLICATE_ID', `a scheduled message with mid "${f.mid.slice(0, 64)}" is pending`, { mid: f.mid.slice(0, 128) });
    }
    const what: ScheduledPub = { kind: 'pub', topic: f.topic, data: f.data };
    if (f.mode === 'persistent') what.mode = 'persistent';
    if (f.ttl !== undefined) what.ttl = f.ttl;
    if (f.hdr) what.hdr = f.hdr;
    if (f.retain === true) what.retain = true;
    const id = f.mid ?? this.nextId();
    this.schedule(conn, f, ack, id, what, bytes + f.topic.length, f.mode === 'persistent');
  }

  out(conn: Connection, f: OutFrame, spacePersistent: boolean): void {
    const ack = f.ack ?? 'none';
    if (ack !== 'none' && f.id === undefined) throw invalidField('out', 'id', 'is required when ack is not "none"');
    // Checked now as the out would be when due, so a bad tuple fails its writer, not the clock.
    const { bytes } = inboundTuple(conn, f.tuple, this.options.maxArity);
    const what: ScheduledOut = { kind: 'out', space: f.space, tuple: f.tuple };
    if (f.ttl !== undefined) what.ttl = f.ttl;
    if (f.hdr) what.hdr = f.hdr;
    if (f.persistent !== undefined) what.persistent = f.persistent;
    this.schedule(conn, f, ack, this.nextId(), what, bytes + f.space.length, f.persistent ?? spacePersistent);
  }

  private schedule(
    conn: Connection, f: PubFrame | OutFrame, ack: AckLevel, id: string, what: ScheduledPub | ScheduledOut, bytes: number, persistent: boolean,
  ): void {
    const now = Date.now();
    const due = dueTime(f, now);
    if (due - now > this.options.maxScheduleDelayMs) {
      const field = f.delay !== undefined ? 'delay' : 'deliverAt';
      throw new LindenError('SCHEDULE_TOO_FAR', `"${f.t}" ${field}: the due time is ${due - now} ms away, more than maxScheduleDelayMs (${this.options.maxScheduleDelayMs} ms); nothing was scheduled`, { field, limit: this.options.maxScheduleDelayMs });
    }
    if (this.entries.size >= this.options.maxScheduled) {
      throw new LindenError('SCHEDULE_FULL', `the broker holds ${this.entries.size} scheduled messages and tuples (maxScheduled)`, { limit: 'maxScheduled' });
    }
    if (this.bytes + bytes > this.options.maxScheduledBytes) {
      throw new LindenError('SCHEDULE_FULL', `the scheduled messages and tuples hold ${this.bytes} bytes; ${bytes} more would pass maxScheduledBytes (${this.options.maxScheduledBytes})`, { limit: 'maxScheduledBytes' });
    }
    if (persistent && !this.remote) this.room.check(bytes);
    if (persistent && this.remote && (ack === 'delivery' || ack === 'processing')) {
      throw new LindenError('SCHEDULE_UNSUPPORTED', `cluster mode: a persistent scheduled "${f.t}" answers at submission only (ack "none" or "submission"); nothing was scheduled`, { t: f.t, ack });
    }
    const record: ScheduledRecord = { id, due, createdAt: now, codec: conn.codec.name, bytes, what };
    if (typeof conn.user === 'string') record.user = conn.user;
    const laterAnswer = ack === 'delivery' || ack === 'processing';
    const waiting = laterAnswer ? { conn, re: f.id!, ack, ...(f.timeout === undefined ? {} : { timeout: f.timeout }) } : undefined;
    const s: Scheduled = { record, persistent, lease: undefined, written: undefined, waiting };
    s.written = !persistent ? undefined : this.remote ? this.remote.add(record).then(added, unavailable) : this.store.write([putScheduled(record)]);
    this.admit(s);
    if (waiting) this.awaited.add(s);
    s.lease = this.stopped ? undefined : this.heap.add(s, due);
    this.stats.scheduled++;
    const answer = ack === 'submission' ? (): void => conn.sendFrame(submitted(f, id, due)) : undefined;
    if (!s.written) {
      answer?.();
      return;
    }
    s.written.then(() => {
      s.written = undefined;
      answer?.();
    }, (err: unknown) => {
      // Nothing was stored: nothing may be delivered either.
      this.room.failed(err);
      this.forget(s);
      if (ack !== 'none') conn.sendError(err, f.id);
    });
  }

  /** `unschedule`: whoever scheduled it, an admin, or anyone allowed to publish on its topic (write to its space), may cancel it. */
  cancel(conn: Connection, f: UnscheduleFrame): void {
    const s = this.entries.get(f.sched);
    if (!s && this.remote) return this.cancelRemote(this.remote, conn, f);
    // The same answer for someone else's: it says nothing of what others scheduled.
    if (!s || !mayCancel(conn, s.record)) throw notScheduled(f.sched);
    const durable = this.drop(s);
    this.stats.cancelled++;
    if (s.waiting && s.waiting.conn.state !== 'closed') {
      s.waiting.conn.sendError(new LindenError('NOT_SCHEDULED', `scheduled ${s.record.what.kind} "${s.record.id.slice(0, 64)}" was cancelled before it was due`, { sched: s.record.id.slice(0, 128), cancelled: true }), s.waiting.re);
    }
    if (!durable) conn.sendFrame({ t: 'ok', re: f.id });
    else durable.then(() => conn.sendFrame({ t: 'ok', re: f.id }), (err: unknown) => conn.sendError(err, f.id));
  }

  /** Cluster mode: a persistent schedule another node took (or this one before a restart), found in Redis. */
  private cancelRemote(remote: ClusterSchedules, conn: Connection, f: UnscheduleFrame): void {
    void remote.record(f.sched)
      .then(async (record) => (record && mayCancel(conn, record) ? remote.cancel(f.sched) : false))
      .then((cancelled) => {
        if (!cancelled) throw notScheduled(f.sched);
        this.stats.cancelled++;
        conn.sendFrame({ t: 'ok', re: f.id });
      })
      .catch((err: unknown) => conn.sendError(asUnavailable(err), f.id));
  }

  /** The schedules, soonest first, at most `limit` (a view for operators, not a hot path); in cluster mode the persistent ones of every node. */
  async list(limit = 1_000): Promise<ScheduledView[]> {
    const local = [...this.entries.values()].filter((s) => !(this.remote && s.persistent)).map(viewOf);
    const remote = this.remote ? (await this.remote.list(limit).catch(unavailable)).map((record) => viewOf({ record, persistent: true })) : [];
    return [...local, ...remote].sort((a, b) => a.due.localeCompare(b.due)).slice(0, limit);
  }

  async find(id: string): Promise<ScheduledView | undefined> {
    const s = this.entries.get(id);
    if (s) return viewOf(s);
    const record = await this.remote?.record(id);
    return record && viewOf({ record, persistent: true });
  }

  /** The publisher left: a later receipt has nobody to go to. */
  detach(conn: Connection): void {
    if (this.awaited.size === 0) return;
    for (const s of this.awaited) {
      if (s.waiting?.conn !== conn) continue;
      s.waiting = undefined;
      this.awaited.delete(s);
    }
  }

  stop(): void {
    this.stopped = true;
    this.heap.stop();
    this.remote?.stop();
  }

  private due(s: Scheduled): void {
    s.lease = undefined;
    if (this.stopped || this.entries.get(s.record.id) !== s) return;
    // A persistent schedule is routed once it is on disk: a failed write must not have delivered it.
    if (s.written) {
      s.written.then(() => this.due(s), () => undefined);
      return;
    }
    if (s.persistent && this.remote) return this.dueInCluster(this.remote, s);
    const waiting = s.waiting?.conn.state === 'open' ? s.waiting : undefined;
    const conn = waiting?.conn ?? ghostConnection(s.record.codec);
    const frame = dueFrame(s.record, waiting);
    try {
      if (frame.t === 'pub') this.target.publish(conn, frame);
      else this.target.out(conn, frame);
    } catch (err) {
      const code = err instanceof LindenError ? err.code : undefined;
      if (s.persistent && (code === 'QUEUE_FULL' || code === 'STORE_FULL' || code === 'SPACE_FULL' || code === 'DRAINING')) {
        // Never lost: it stays stored and is tried again; the publisher hears it was late, not lost.
        this.log.warn({ id: s.record.id, code }, 'scheduled delivery refused when due; trying again');
        s.lease = this.heap.add(s, Date.now() + RETRY_MS);
        return;
      }
      this.log.warn({ id: s.record.id, err: err instanceof Error ? err.message : String(err) }, 'scheduled delivery failed when due; dropped');
      if (waiting) waiting.conn.sendError(err, waiting.re);
    }
    // In the tick of the routing writes, so one transaction holds both (scheduled-records.ts).
    this.drop(s)?.catch(() => undefined);
    this.stats.delivered++;
  }

  /**
   * Cluster mode: a persistent schedule is routed by the node that claims it in Redis, this one
   * first; should the claim or the routing fail, a sweep of any node routes it later.
   */
  private dueInCluster(remote: ClusterSchedules, s: Scheduled): void {
    this.forget(s);
    const { id } = s.record;
    void remote.claim(id)
      .then(async (won) => {
        if (!won) return;
        await this.routeConfirmed(s.record);
        this.stats.delivered++;
        await remote.done(id);
      })
      .catch((err: unknown) => this.log.warn({ id, err: err instanceof Error ? err.message : String(err) }, 'scheduled delivery not confirmed; a sweep tries again'));
  }

  /** Routes a record and resolves once the cores confirmed it (the persistent publish stored, the tuple written). */
  private routeConfirmed(record: ScheduledRecord): Promise<void> {
    const { conn, answered } = answeringGhost(record.codec);
    const frame = dueFrame(record, { re: 0, ack: 'submission' });
    if (frame.t === 'pub') this.target.publish(conn, frame);
    else this.target.out(conn, frame);
    return answered;
  }

  private admit(s: Scheduled): void {
    this.entries.set(s.record.id, s);
    this.bytes += s.record.bytes;
  }

  /** Takes a schedule out of memory and, when persistent, out of the store. */
  private drop(s: Scheduled): Promise<void> | undefined {
    this.forget(s);
    if (!s.persistent) return undefined;
    if (!this.remote) return this.store.write([deleteScheduled(s.record.id)]);
    const id = s.record.id;
    return this.remote.cancel(id).then((cancelled) => {
      if (!cancelled) throw notScheduled(id);
    }, (err: unknown) => {
      throw unavailable(err);
    });
  }

  private forget(s: Scheduled): void {
    if (this.entries.get(s.record.id) !== s) return;
    this.entries.delete(s.record.id);
    this.awaited.delete(s);
    this.bytes -= s.record.bytes;
    if (s.lease) this.heap.remove(s.lease);
    s.lease = undefined;
  }

  private nextId(): string {
    return `${this.idPrefix}s${(this.seq++).toString(36)}`;
  }
}

function dueTime(f: PubFrame | OutFrame, now: number): number {
  if (f.delay !== undefined && f.deliverAt !== undefined) throw invalidField(f.t, 'deliverAt', 'cannot go with delay: give one of them');
  // A deliverAt in the past is due now: late, never early.
  return f.delay !== undefined ? now + f.delay : Math.max(now, f.deliverAt!);
}

/** Cluster mode: a publisher's mid already scheduled, by any node. */
function added(fresh: boolean): void {
  if (!fresh) throw new LindenError('DUPLICATE_ID', 'a scheduled message with this mid is pending (on some node of the cluster)');
}

function notScheduled(id: string): LindenError {
  return new LindenError('NOT_SCHEDULED', `nothing scheduled with id "${id.slice(0, 64)}" (unknown, cancelled, or already delivered)`, { sched: id.slice(0, 128) });
}

/** A Redis failure as the typed error of cluster mode; a LindenError as it is. */
function asUnavailable(err: unknown): LindenError {
  if (err instanceof LindenError) return err;
  return new LindenError('STORE_UNAVAILABLE', `cluster mode: Redis did not answer for the schedule (${String(err).slice(0, 120)})`);
}

function unavailable(err: unknown): never {
  throw asUnavailable(err);
}

function viewOf({ record: r, persistent }: Pick<Scheduled, 'record' | 'persistent'>): ScheduledView {
  return {
    id: r.id, kind: r.what.kind, target: r.what.kind === 'pub' ? r.what.topic : r.what.space,
    due: new Date(r.due).toISOString(), mode: persistent ? 'persistent' : 'transient', bytes: r.bytes, createdAt: new Date(r.createdAt).toISOString(),
  };
}

function mayCancel(conn: Connection, r: ScheduledRecord): boolean {
  if ((r.user !== undefined && conn.user === r.user) || conn.permissions.admin) return true;
  return r.what.kind === 'pub' ? conn.permissions.may('publish', r.what.topic) : conn.permissions.may('space.write', r.what.space);
}

/** The submission receipt of a scheduled publish (no receivers yet: it is routed when due), or the lease of a scheduled out. */
function submitted(f: PubFrame | OutFrame, id: string, due: number): ReceiptFrame | LeaseFrame {
  if (f.t === 'out') return { t: 'lease', re: f.id!, tid: id, expiresAt: null, ttl: f.ttl ?? null, shortened: false, sched: id, due };
  return {
    t: 'receipt', re: f.id!, mid: id, stage: 'submission', receivers: 0, delivered: 0, processed: 0, failed: 0, dropped: 0,
    timedOut: false, missing: [], rejected: [], due,
  };
}
