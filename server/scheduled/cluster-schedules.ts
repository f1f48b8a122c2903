import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { packr } from '../../protocol/codec.js';
import { HEARTBEAT_MS, NODE_TTL_MS } from '../cluster/keys.js';
import { LuaScript } from '../cluster/durable/lua-script.js';
import type { ScheduledRecord } from './scheduled-records.js';

/*
 * Persistent schedules in cluster mode (protocol.md §9.10), in Redis, so a schedule outlives
 * the node that took it:
 *   {linden}:sched:due      sorted set  id -> due time (ms): waiting
 *   {linden}:sched:claimed  sorted set  id -> when the claim lapses: a node is routing it
 *   {linden}:sched:rec      hash        id -> the ScheduledRecord, MessagePack
 * The node that scheduled one claims it when its own timer says it is due; every node sweeps the
 * set for entries overdue by more than SWEEP_GRACE_MS (their node died or restarted) and for
 * claims that lapsed (a node died while routing), and claims them. A claim is atomic, so one node
 * wins each entry; the entry leaves Redis only once its routing was confirmed (the persistent
 * publish stored, the tuple written), so a node dying in between makes it routed again by another:
 * at least once, and the schedule's id, the message's mid, is deduplicated cluster-wide.
 */
const DUE_KEY = '{linden}:sched:due';
const CLAIMED_KEY = '{linden}:sched:claimed';
const RECORDS_KEY = '{linden}:sched:rec';
/** How long a claim holds before another node may route the entry again. */
const CLAIM_MS = NODE_TTL_MS * 5;
/** The scheduling node routes its own on time; others step in this much later. */
export const SWEEP_GRACE_MS = NODE_TTL_MS;
const SWEEP_BATCH = 100;

/** ARGV: id, now, claim end, '0' (from the due set) or '1' (a lapsed claim). 1 when this call won it. */
const CLAIM = new LuaScript(`
local key = ARGV[4] == '0' and KEYS[1] or KEYS[2]
local s = redis.call('ZSCORE', key, ARGV[1])
if not s or tonumber(s) > tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1`);
/** ARGV: id, due, record. 0 when a schedule of that id exists (a publisher's mid used twice). */
const ADD = new LuaScript(`
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[3]) == 0 then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1`);
/** ARGV: id. 1 when it was still waiting (not claimed): then it is gone. */
const CANCEL = new LuaScript(`
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then redis.call('HDEL', KEYS[2], ARGV[1]) return 1 end
return 0`);

export class ClusterSchedules {
  private readonly timer: ReturnType<typeof setInterval>;
  private sweeping = false;

  constructor(
    private readonly redis: Redis,
    private readonly log: Logger,
    /** Routes a claimed entry, resolving once its routing is confirmed. */
    private readonly route: (record: ScheduledRecord) => Promise<void>,
    /** Whether this node holds the entry itself (its own timer routes it). */
    private readonly holds: (id: string) => boolean,
  ) {
    this.timer = setInterval(() => void this.sweep(), HEARTBEAT_MS);
    this.timer.unref();
  }

  /** Stores a schedule; false when one of that id is already there. */
  async add(record: ScheduledRecord): Promise<boolean> {
    return (await ADD.run(this.redis, [DUE_KEY, RECORDS_KEY], [record.id, record.due, packr.pack(record)])) === 1;
  }

  /** Claims entry `id` for this node; true when it won it. */
  async claim(id: string, lapsed = false): Promise<boolean> {
    return (await CLAIM.run(this.redis, [DUE_KEY, CLAIMED_KEY], [id, Date.now(), Date.now() + CLAIM_MS, lapsed ? '1' : '0'])) === 1;
  }

  /** The entry was routed: it leaves Redis. */
  done(id: string): Promise<void> {
    return this.redis.multi().zrem(CLAIMED_KEY, id).hdel(RECORDS_KEY, id).exec().then(failedIn);
  }

  /** Removes a waiting entry; false when there was none (or a node is routing it now). */
  async cancel(id: string): Promise<boolean> {
    return (await CANCEL.run(this.redis, [DUE_KEY, RECORDS_KEY], [id])) === 1;
  }

  async record(id: string): Promise<ScheduledRecord | undefined> {
    const buf = await this.redis.hgetBuffer(RECORDS_KEY, id);
    return buf ? (packr.unpack(buf) as ScheduledRecord) : undefined;
  }

  /** Waiting entries, soonest first, at most `limit` (admin view). */
  async list(limit: number): Promise<ScheduledRecord[]> {
    const ids = await this.redis.zrange(DUE_KEY, 0, limit - 1);
    if (ids.length === 0) return [];
    const bufs = await this.redis.hmgetBuffer(RECORDS_KEY, ...ids);
    return bufs.flatMap((b) => (b ? [packr.unpack(b) as ScheduledRecord] : []));
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const now = Date.now();
      for (const id of await this.redis.zrangebyscore(DUE_KEY, '-inf', now - SWEEP_GRACE_MS, 'LIMIT', 0, SWEEP_BATCH)) {
        if (!this.holds(id)) await this.takeOver(id, false);
      }
      for (const id of await this.redis.zrangebyscore(CLAIMED_KEY, '-inf', now, 'LIMIT', 0, SWEEP_BATCH)) await this.takeOver(id, true);
    } catch (err) {
      this.log.debug({ err }, 'scheduled: a sweep failed; the next one tries again');
    } finally {
      this.sweeping = false;
    }
  }

  private async takeOver(id: string, lapsed: boolean): Promise<void> {
    if (!(await this.claim(id, lapsed))) return;
    const record = await this.record(id);
    if (!record) return void (await this.done(id));
    await this.route(record);
    await this.done(id);
  }
}

/** MULTI's replies: the first error, thrown. */
function failedIn(replies: Array<[Error | null, unknown]> | null): void {
  for (const [err] of replies ?? []) if (err) throw err;
}
