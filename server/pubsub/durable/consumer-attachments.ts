import type { Connection } from '../../connection.js';
import type { Consumer } from './consumer.js';

/** A queue of either core as its connections see it: one that takes a consumer back. */
export interface ConsumerQueue {
  detach(consumer: Consumer, clean: boolean): void;
}

/**
 * Which queue each durable subscription of a connection consumes from (by sid): the local core's
 * and the Redis core's bookkeeping, one piece. Taking one out detaches it from its queue.
 */
export class ConsumerAttachments<Q extends ConsumerQueue> {
  private readonly byConn = new WeakMap<Connection, Map<number, { queue: Q; consumer: Consumer }>>();

  add(conn: Connection, sid: number, queue: Q, consumer: Consumer): void {
    let mine = this.byConn.get(conn);
    if (!mine) this.byConn.set(conn, (mine = new Map()));
    mine.set(sid, { queue, consumer });
  }

  /** Forgets a consumer its queue already let go (the queue was deleted). */
  forget(conn: Connection, sid: number): void {
    this.byConn.get(conn)?.delete(sid);
  }

  /** An unsubscribe: its deliveries go back without counting (clean); returns the queue, if any. */
  detach(conn: Connection, sid: number): Q | undefined {
    const mine = this.byConn.get(conn);
    const entry = mine?.get(sid);
    if (!entry) return undefined;
    mine!.delete(sid);
    entry.queue.detach(entry.consumer, true);
    return entry.queue;
  }

  /** A closing connection: every consumer of it detached; returns their queues. */
  detachAll(conn: Connection): Q[] {
    const mine = this.byConn.get(conn);
    if (!mine) return [];
    this.byConn.delete(conn);
    // All of them first: what one consumer gives back must not go to another of this connection.
    for (const { consumer } of mine.values()) consumer.leaving = true;
    for (const { queue, consumer } of mine.values()) queue.detach(consumer, false);
    return [...mine.values()].map((e) => e.queue);
  }
}
