import type { Connection } from '../../connection.js';

/** A connection attached to a queue. */
export interface Consumer {
  readonly conn: Connection;
  readonly sid: number;
  inFlight: number;
  /** Its connection is closing: it gets nothing more, not even what its other consumers give back. */
  leaving?: boolean;
}

/**
 * Round-robin among the consumers of a queue: the index of the first, from `start` on and going
 * round, that has room under `maxInFlight` and a connection still open; -1 when none has.
 */
export function nextWithRoom(consumers: readonly Consumer[], start: number, maxInFlight: number): number {
  const n = consumers.length;
  for (let i = 0; i < n; i++) {
    const at = (start + i) % n;
    const c = consumers[at]!;
    if (c.inFlight < maxInFlight && c.conn.state === 'open' && !c.leaving) return at;
  }
  return -1;
}
