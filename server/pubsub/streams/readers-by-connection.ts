import type { Connection } from '../../connection.js';

/** A core's stream readers by connection and subscription id, for one broker or a cluster node. */
export class ReadersByConnection<R> {
  private readonly byConn = new WeakMap<Connection, Map<number, R>>();

  add(conn: Connection, sid: number, reader: R): void {
    let mine = this.byConn.get(conn);
    if (!mine) this.byConn.set(conn, (mine = new Map()));
    mine.set(sid, reader);
  }

  /** The reader of that subscription, no longer kept here; undefined when there is none. */
  take(conn: Connection, sid: number): R | undefined {
    const mine = this.byConn.get(conn);
    const reader = mine?.get(sid);
    if (reader !== undefined) mine!.delete(sid);
    return reader;
  }

  /** Every reader of that connection, no longer kept here. */
  takeAll(conn: Connection): Iterable<R> {
    const mine = this.byConn.get(conn);
    if (!mine) return [];
    this.byConn.delete(conn);
    return mine.values();
  }
}
