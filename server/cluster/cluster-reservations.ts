import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { HEARTBEAT_MS, NODE_TTL_MS, RESERVATIONS_KEY, SPACE_BYTES_KEY } from './keys.js';
import { tupleOf } from './space-entries.js';
import { SPACE_RELEASE, SPACE_RESERVE, SPACE_SETTLE, spaceKey } from './space-scripts.js';
import type { StoredTuple } from '../space/stored-tuple.js';

type Arg = string | number | Buffer;
type Scripted = Redis & {
  lindenSpaceReserveBuffer(...args: Arg[]): Promise<Buffer | null>;
  lindenSpaceSettle(...args: Arg[]): Promise<number>;
  lindenSpaceReleaseBuffer(...args: Arg[]): Promise<Buffer[] | null>;
};

/** A reservation being put back is swept again after this long, should its node stop halfway. */
const RETRY_MS = NODE_TTL_MS;
/** Reservations swept per round: more wait for the next one. */
const SWEEP_BATCH = 100;

/**
 * Reservations of tuples in the cluster's spaces (space-scripts.ts: a reserved tuple stays in
 * `t`, out of the index, its reservation in `r`). Every reservation's end is filed in
 * RESERVATIONS_KEY before the take and removed after it is over, so one whose node died is never
 * lost: every node sweeps the ends that are due, and the first to release one puts its tuple back.
 * A live taker's node releases its own at the end through its timer; the sweep is for the dead.
 */
export class ClusterReservations {
  private readonly redis: Scripted;
  private seq = 0;
  private readonly sweeper: ReturnType<typeof setInterval>;
  private sweeping = false;
  /** Settles under way (a closing connection's reservations among them), for idle(). */
  private readonly settling = new Set<Promise<boolean>>();

  constructor(
    redis: Redis,
    private readonly node: string,
    /** Shows a released tuple, still hidden in `t`, offering it to the waiters first (as an out). */
    private readonly putBack: (t: StoredTuple, rec: Buffer, rid: string) => Promise<void>,
    private readonly log: Logger,
  ) {
    this.redis = redis as Scripted;
    this.redis.defineCommand('lindenSpaceReserve', { numberOfKeys: 3, lua: SPACE_RESERVE });
    this.redis.defineCommand('lindenSpaceSettle', { numberOfKeys: 4, lua: SPACE_SETTLE });
    this.redis.defineCommand('lindenSpaceRelease', { numberOfKeys: 2, lua: SPACE_RELEASE });
    this.sweeper = setInterval(() => void this.sweep(), HEARTBEAT_MS);
    this.sweeper.unref();
  }

  /** A reservation id unique in the cluster: a counter of this node and the node's id. */
  newId(): string {
    return `${(this.seq++).toString(36)}.${this.node}`;
  }

  /**
   * Files when a reservation about to be taken ends; call before the take. Filed again, the
   * latest end stays. One filed for nothing is dropped by forget(), or by the sweep at its end.
   */
  async file(space: string, rid: string, ms: number): Promise<void> {
    await this.redis.zadd(RESERVATIONS_KEY, 'GT', Date.now() + ms, member(space, rid));
  }

  forget(space: string, rid: string): void {
    this.redis.zrem(RESERVATIONS_KEY, member(space, rid)).catch(() => undefined);
  }

  /** Takes a visible tuple under reservation `rid` (filed already); its record, or null when another took it first. */
  take(space: string, arity: number, tid: string, rid: string): Promise<Buffer | null> {
    return this.redis.lindenSpaceReserveBuffer(spaceKey(space, `a:${arity}`), spaceKey(space, 't'), spaceKey(space, 'r'), tid, rid);
  }

  /**
   * Ends a reservation: `ok` takes the tuple for good, otherwise it goes back. False when it was
   * over already. `announced`: its `in` event went out already (a hand-off's claim announces it).
   */
  settle(space: string, rid: string, ok: boolean, announced = false): Promise<boolean> {
    const settling = this.settleNow(space, rid, ok, announced);
    this.settling.add(settling);
    void settling.finally(() => this.settling.delete(settling)).catch(() => undefined);
    return settling;
  }

  /** Resolves once the settles under way have ended: a stopping node finishes putting tuples back. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.settling]);
  }

  private async settleNow(space: string, rid: string, ok: boolean, announced: boolean): Promise<boolean> {
    const k = (part: string) => spaceKey(space, part);
    let settled = true;
    if (ok) {
      settled = (await this.redis.lindenSpaceSettle(k('r'), k('t'), k('n'), SPACE_BYTES_KEY, rid, k('events'), announced ? '1' : '')) === 1;
    } else {
      const got = await this.redis.lindenSpaceReleaseBuffer(k('r'), k('t'), rid);
      if (!got) settled = false;
      else if (!got[1]) await this.drop(space, rid); // the tuple ended meanwhile (cancel, lease)
      else {
        // Swept again only if this node stops halfway; the claim or show that puts it back ends the reservation.
        await this.redis.zadd(RESERVATIONS_KEY, Date.now() + RETRY_MS, member(space, rid));
        const tid = got[0]!.toString();
        await this.putBack(tupleOf(space, tid, Number(tid), got[1]), got[1], rid);
      }
    }
    this.forget(space, rid);
    return settled;
  }

  /** Ends a reservation, leaving its tuple where it is. */
  async drop(space: string, rid: string): Promise<void> {
    await this.redis.hdel(spaceKey(space, 'r'), rid);
  }

  /** Puts back the tuples of the reservations that are due (their taker's node died, or is late). */
  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const due = await this.redis.zrangebyscore(RESERVATIONS_KEY, '-inf', Date.now(), 'LIMIT', 0, SWEEP_BATCH);
      for (const m of due) {
        const gap = m.indexOf(' ');
        await this.settle(m.slice(gap + 1), m.slice(0, gap), false);
      }
    } catch (err) {
      this.log.debug({ err }, 'cluster spaces: the sweep of reservations failed; the next one tries again');
    } finally {
      this.sweeping = false;
    }
  }

  stop(): void {
    clearInterval(this.sweeper);
  }
}

/** The reservation's entry in RESERVATIONS_KEY: its id (no spaces in it) first, then its space. */
function member(space: string, rid: string): string {
  return `${rid} ${space}`;
}
