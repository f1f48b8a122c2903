import { LindenError } from '../../protocol/errors.js';
import type { Connection } from '../connection.js';
import type { ConnectionHoldings, Holdings, Reservation } from './holdings.js';
import type { Space } from './space.js';
import type { StoredTuple } from './stored-tuple.js';

/**
 * Tuples taken under reservation (`in` with `reserve`), filed with their connection under a rid
 * until settled. One that runs out of time or loses its connection is handed to `giveBack`,
 * which returns the tuple to its space (or to the cluster's spaces).
 */
export class SpaceReservations {
  private seq = 0;

  constructor(
    private readonly holdings: ConnectionHoldings,
    private readonly maxTimeoutMs: number,
    private readonly giveBack: (r: Reservation) => void,
  ) {}

  /**
   * Files `t` as reserved by `conn` for `reserveMs` (capped at maxTimeoutMs) and returns its rid:
   * `clusterRid` in cluster mode, where the cluster names it and `space` is undefined.
   */
  open(conn: Connection, t: StoredTuple, reserveMs: number, space: Space | undefined, clusterRid?: string): string {
    const rid = clusterRid ?? `${t.tid}.${(this.seq++).toString(36)}`;
    const held = this.holdings.of(conn);
    const r: Reservation = {
      rid, tuple: t, space,
      timer: setTimeout(() => {
        if (held.reservations.delete(rid)) this.giveBack(r);
      }, Math.min(reserveMs, this.maxTimeoutMs)),
    };
    held.reservations.set(rid, r);
    return rid;
  }

  /** Takes the connection's reservation `rid` off file, for its settle; UNKNOWN_ID when it holds none such. */
  close(conn: Connection, rid: string): Reservation {
    const held = this.holdings.of(conn);
    const r = held.reservations.get(rid);
    if (!r) throw unknownReservation(rid);
    held.reservations.delete(rid);
    clearTimeout(r.timer);
    return r;
  }

  /** The connection went: each reservation it held is given back. */
  giveBackAll(held: Holdings): void {
    for (const r of held.reservations.values()) {
      clearTimeout(r.timer);
      this.giveBack(r);
    }
  }
}

export function unknownReservation(rid: string): LindenError {
  return new LindenError('UNKNOWN_ID', `no reservation ${rid} on this connection (settled, expired or never made)`, { rid });
}
