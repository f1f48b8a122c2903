import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { sweepLeases } from './cluster-notifiers.js';
import { HEARTBEAT_MS, LEASES_KEY, NODE_TTL_MS, OFFERS_KEY } from './keys.js';
import { SPACE_REOFFER, spaceKey } from './space-scripts.js';

type Scripted = Redis & { lindenSpaceReofferBuffer(...args: (string | number)[]): Promise<Buffer | null> };

/** How long a node has to offer a hidden tuple to the waiters before another node does it. */
export const OFFER_MS = NODE_TTL_MS;
/** Entries swept per round and kind: more wait for the next one. */
const SWEEP_BATCH = 100;

/**
 * The cluster-wide sweeps of the tuple spaces, run by every node every HEARTBEAT_MS; a script
 * lets one node act on each due entry. A tuple offered to the waiters by a node that died
 * (OFFERS_KEY) is offered again, so it is not left hidden; the expired tuples of every space
 * (LEASES_KEY) end, so they do not stay in Redis in a space nobody watches with notify.
 */
export class SpaceSweeps {
  private readonly redis: Scripted;
  private readonly timer: ReturnType<typeof setInterval>;
  private sweeping = false;

  constructor(
    redis: Redis,
    /** Offers the hidden tuple `tid` (record `rec`) of `space` to its waiters, then shows it. */
    private readonly reoffer: (space: string, tid: string, rec: Buffer) => Promise<void>,
    private readonly log: Logger,
  ) {
    this.redis = redis as Scripted;
    this.redis.defineCommand('lindenSpaceReoffer', { numberOfKeys: 2, lua: SPACE_REOFFER });
    this.timer = setInterval(() => void this.sweep(), HEARTBEAT_MS);
    this.timer.unref();
  }

  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const now = Date.now();
      for (const m of await this.redis.zrangebyscore(OFFERS_KEY, '-inf', now, 'LIMIT', 0, SWEEP_BATCH)) {
        const gap = m.indexOf(' ');
        const tid = m.slice(0, gap);
        const space = m.slice(gap + 1);
        const rec = await this.redis.lindenSpaceReofferBuffer(OFFERS_KEY, spaceKey(space, 't'), m, now, Date.now() + OFFER_MS, tid);
        if (rec) await this.reoffer(space, tid, rec);
      }
      for (const space of await this.redis.zrangebyscore(LEASES_KEY, '-inf', now, 'LIMIT', 0, SWEEP_BATCH)) {
        await sweepLeases(this.redis, space, true);
      }
    } catch (err) {
      this.log.debug({ err }, 'cluster spaces: a sweep of offers and leases failed; the next one tries again');
    } finally {
      this.sweeping = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
