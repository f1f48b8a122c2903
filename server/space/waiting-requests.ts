import { LindenError } from '../../protocol/errors.js';
import type { AbortFrame, ReadFrame } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import type { ConnectionHoldings, Holdings } from './holdings.js';
import type { SpaceCluster } from './space-cluster.js';
import type { Space } from './space.js';
import type { Template } from './template.js';
import type { Waiter } from './waiters.js';

/** What waiting requests need of the core: to let go of a space they leave, and the cluster's spaces when there are. */
export interface WaitHost {
  readonly cluster: SpaceCluster | undefined;
  /** Forgets the space if it is transient and holds nothing. */
  release(space: Space): void;
}

/**
 * The blocked `in`/`rd` requests of the connections: filed with their connection under the
 * limits, with a timer for their timeout, and each ended once (served, timed out, aborted,
 * failed, or its connection gone). Where tuples find them is the space's (or the cluster's) business.
 */
export class WaitingRequests {
  /** Arrival order across the broker (Waiter.seq). */
  private seq = 0;

  constructor(
    private readonly spaces: ReadonlyMap<string, Space>,
    private readonly host: WaitHost,
    private readonly holdings: ConnectionHoldings,
    private readonly maxTimeoutMs: number,
  ) {}

  /** Files a blocked request of the connection (limits, its timeout); the caller puts it where tuples will find it. */
  start(conn: Connection, template: Template, f: ReadFrame): Waiter {
    const held = this.holdings.of(conn);
    this.holdings.checkRoom(held);
    if (held.waiters.has(f.id)) throw new LindenError('DUPLICATE_ID', `request id ${f.id} is already waiting`, { id: f.id });
    const w: Waiter = {
      seq: this.seq++, space: f.space, template, take: f.t === 'in', conn, requestId: f.id,
      reserveMs: f.reserve, timer: undefined, queue: undefined,
    };
    if (f.timeout !== undefined) {
      w.timer = setTimeout(() => {
        this.end(w, true);
        conn.sendFrame({ t: 'tuple', re: f.id, tuple: null });
      }, Math.min(f.timeout, this.maxTimeoutMs));
    }
    held.waiters.set(f.id, w);
    return w;
  }

  abort(conn: Connection, f: AbortFrame): void {
    const w = this.holdings.of(conn).waiters.get(f.target);
    if (w) {
      this.end(w, true);
      conn.sendFrame({ t: 'tuple', re: w.requestId, tuple: null, aborted: true });
    }
    conn.sendFrame({ t: 'ok', re: f.id });
  }

  /** Ends a wait with an error: the cluster's store failed under it. */
  fail(w: Waiter, err: unknown): void {
    this.end(w, true);
    w.conn.sendError(err, w.requestId);
  }

  /**
   * Ends a wait. `release` when nothing else is under way in its space; a waiter served inside a
   * write leaves that to the write, whose space is not to vanish under it.
   */
  end(w: Waiter, release = false): void {
    clearTimeout(w.timer);
    this.holdings.of(w.conn).waiters.delete(w.requestId);
    if (release) this.drop(w);
    else this.spaces.get(w.space)?.removeWaiter(w);
  }

  /** The connection went: its waits end unanswered. */
  detach(held: Holdings): void {
    for (const w of held.waiters.values()) {
      clearTimeout(w.timer);
      this.drop(w);
    }
    held.waiters.clear(); // out of the broker-wide count (maxWaitersTotal)
  }

  private drop(w: Waiter): void {
    this.host.cluster?.dropWaiter(w);
    const space = this.spaces.get(w.space);
    if (!space) return;
    space.removeWaiter(w);
    this.host.release(space);
  }
}
