import { LindenError } from '../../protocol/errors.js';
import type { Connection } from '../connection.js';
import type { Notifier, Space } from './space.js';
import type { StoredTuple } from './stored-tuple.js';
import type { Waiter } from './waiters.js';

/** A tuple taken under reservation by a connection, until it settles or the timer puts it back. */
export interface Reservation {
  readonly rid: string;
  readonly tuple: StoredTuple;
  readonly space: Space;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** What one connection holds in the spaces, released when it goes away. */
export interface Holdings {
  waiters: Map<number, Waiter>;
  notifiers: Map<number, Notifier>;
  reservations: Map<string, Reservation>;
}

/** The holdings of every connection, made on first use and forgotten with the connection. */
export class ConnectionHoldings {
  private readonly byConnection = new WeakMap<Connection, Holdings>();

  constructor(private readonly maxWaitersPerConnection: number) {}

  of(conn: Connection): Holdings {
    let held = this.byConnection.get(conn);
    if (!held) this.byConnection.set(conn, (held = { waiters: new Map(), notifiers: new Map(), reservations: new Map() }));
    return held;
  }

  /** Hands back what the connection held, if anything, and forgets it. */
  take(conn: Connection): Holdings | undefined {
    const held = this.byConnection.get(conn);
    this.byConnection.delete(conn);
    return held;
  }

  /** TOO_MANY_WAITERS when one more waiter or notify subscription would cross the limit. */
  checkRoom(held: Holdings): void {
    if (held.waiters.size + held.notifiers.size >= this.maxWaitersPerConnection) {
      throw new LindenError('TOO_MANY_WAITERS', `at most ${this.maxWaitersPerConnection} waiting requests and notify subscriptions per connection`);
    }
  }
}
