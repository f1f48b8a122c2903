import type { LeaseFrame } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import type { StoredTuple } from './stored-tuple.js';

/** An `out` whose writer waits until a taker has the tuple ('delivery') or is done with it ('processing'). */
interface OutWatch {
  readonly conn: Connection;
  readonly stage: 'delivery' | 'processing';
  readonly reply: LeaseFrame;
  readonly timer: ReturnType<typeof setTimeout>;
  /** Called once the watch is over, however it ended. */
  readonly ended: (() => void) | undefined;
}

/** The writers waiting on their tuples' fate (§10.5), each answered once: reached, ended unread, or timed out. */
export class OutWatches {
  private readonly watches = new Map<StoredTuple, OutWatch>();
  private readonly byConn = new WeakMap<Connection, Set<StoredTuple>>();
  private whenEmpty: (() => void) | undefined;

  get size(): number {
    return this.watches.size;
  }

  has(t: StoredTuple): boolean {
    return this.watches.has(t);
  }

  /** Waits `ms` at most; the tuple itself stays when the wait times out. */
  watch(conn: Connection, t: StoredTuple, stage: OutWatch['stage'], reply: LeaseFrame, ms: number, ended?: () => void): void {
    const timer = setTimeout(() => {
      this.unwatch(t);
      conn.sendFrame({ ...reply, stage, reached: false, timedOut: true });
    }, ms);
    t.watched = true;
    this.watches.set(t, { conn, stage, reply, timer, ended });
    let mine = this.byConn.get(conn);
    if (!mine) this.byConn.set(conn, (mine = new Set()));
    mine.add(t);
  }

  unwatch(t: StoredTuple): void {
    const w = this.watches.get(t);
    if (!w) return;
    clearTimeout(w.timer);
    this.watches.delete(t);
    this.byConn.get(w.conn)?.delete(t);
    t.watched = false;
    w.ended?.();
    if (this.watches.size === 0) this.whenEmpty?.();
  }

  /** Resolves once no writer waits any more (a drain waits on it). */
  settled(): Promise<void> {
    if (this.watches.size === 0) return Promise.resolve();
    return new Promise((resolve) => { this.whenEmpty = resolve; });
  }

  /** Answers every writer still waiting as timed out, the broker being about to stop; returns how many. */
  timeOutAll(): number {
    const waiting = [...this.watches];
    for (const [t, w] of waiting) {
      this.unwatch(t);
      w.conn.sendFrame({ ...w.reply, stage: w.stage, reached: false, timedOut: true });
    }
    return waiting.length;
  }

  /** Answers the writer when the tuple reached its stage or ended without reaching it. */
  fate(t: StoredTuple, what: 'delivered' | 'processed' | 'expired'): void {
    const w = this.watches.get(t);
    if (!w || (what === 'delivered' && w.stage === 'processing')) return;
    this.unwatch(t);
    w.conn.sendFrame({ ...w.reply, stage: w.stage, reached: what !== 'expired', timedOut: false });
  }

  /** The writer went away: nobody is left to answer. */
  detach(conn: Connection): void {
    const mine = this.byConn.get(conn);
    if (!mine) return;
    this.byConn.delete(conn);
    for (const t of mine) this.unwatch(t);
  }

  stop(): void {
    for (const t of [...this.watches.keys()]) this.unwatch(t);
  }
}
