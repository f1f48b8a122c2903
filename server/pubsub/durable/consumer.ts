import type { Connection } from '../../connection.js';

/** A connection attached to a queue. */
export interface Consumer {
  readonly conn: Connection;
  readonly sid: number;
  inFlight: number;
  /** Its connection is closing: it gets nothing more, not even what its other consumers give back. */
  leaving?: boolean;
  /** Passed over for its outbound buffer: a dispatch is due when its socket drains. */
  awaitingDrain?: boolean;
}
