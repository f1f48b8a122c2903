import { LindenError } from '../../protocol/errors.js';
import type { Connection } from '../connection.js';
import { CountedMap, Tally } from '../counted-map.js';
import type { Notifier, Space } from './space.js';
import type { StoredTuple } from './stored-tuple.js';
import type { Waiter } from './waiters.js';

/** A tuple taken under reservation by a connection, until it settles or the timer puts it back. */
export interface Reservation {
  readonly rid: string;
  readonly tuple: StoredTuple;
  /** Undefined in cluster mode: the reservation is in the cluster's spaces. */
  readonly space: Space | undefined;
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
  /** Waiters and notify subscriptions of all connections: their maps count into it. */
  readonly waiting = new Tally();

  constructor(private readonly maxWaitersPerConnection: number, private readonly maxWaitersTotal: number) {}

  of(conn: Connection): Holdings {
    let held = this.byConnection.get(conn);
    if (!held) {
      held = { waiters: new CountedMap(this.waiting), notifiers: new CountedMap(this.waiting), reservations: new Map() };
      this.byConnection.set(conn, held);
    }
    return held;
  }

  /** Hands back what the connection held, if anything, and forgets it; the caller ends it and clears the maps. */
  take(conn: Connection): Holdings | undefined {
    const held = this.byConnection.get(conn);
    this.byConnection.delete(conn);
    return held;
  }

  /** TOO_MANY_WAITERS when one more waiter or notify subscription would cross a limit. */
  checkRoom(held: Holdings): void {
    if (held.waiters.size + held.notifiers.size >= this.maxWaitersPerConnection) {
      throw new LindenError('TOO_MANY_WAITERS', `at most ${this.maxWaitersPerConnection} waiting requests and notify subscriptions per connection (maxWaitersPerConnection)`, { limit: 'maxWaitersPerConnection' });
    }
    if (this.waiting.count >= this.maxWaitersTotal) {
      throw new LindenError(
        'TOO_MANY_WAITERS',
        `the broker holds ${this.waiting.count} waiting requests and notify subscriptions, its limit for all connections together (maxWaitersTotal)`,
        { limit: 'maxWaitersTotal' },
      );
    }
  }
}
