import type { Connection } from './connection.js';

/**
 * Units of inbound work (messages) a connection may run in one turn before the others get
 * theirs. Small enough that eight busy connections hold the event loop for milliseconds per
 * round, not seconds; large enough that a slice costs far more than the turn around it.
 */
export const SLICE_UNITS = 128;

/**
 * Connections take turns at their inbound work (DESIGN.md §5 "Fairness"). A frame is handled
 * at once while its connection has budget left in this turn; what does not fit waits in the
 * connection's inbox, its socket paused, and runs in a later round, one slice per connection
 * per round, with a turn of the event loop (I/O included) between rounds. So one client's
 * burst delays another by a round of slices, not by the burst.
 */
export class Turns {
  private ready: Connection[] = [];
  private turn = 0;
  private scheduled = false;

  /**
   * `slice(conn, budget)` handles up to `budget` units of `conn`'s inbox and returns the units it
   * used; `beforeRound` runs first in every round: the broker writes out the answers of this
   * turn's I/O, so they need not wait behind a round of slices.
   */
  constructor(
    private readonly slice: (conn: Connection, budget: number) => number,
    private readonly beforeRound: () => void = () => {},
  ) {}

  /** Work arrived for `conn`: a frame, a message from its interceptors, or the end of a wait. */
  arrived(conn: Connection): void {
    const inbox = conn.inbox;
    if (inbox.queued || inbox.running || inbox.held || conn.state === 'closed') return;
    if (inbox.turn !== this.turn) {
      inbox.turn = this.turn;
      inbox.used = 0;
    }
    if (inbox.used < SLICE_UNITS && inbox.hasWork && !conn.outputFull) {
      inbox.running = true;
      try {
        inbox.used += this.slice(conn, SLICE_UNITS - inbox.used);
      } finally {
        inbox.running = false;
      }
    }
    if ((conn.state as Connection['state']) === 'closed') return; // the slice may have closed it
    if (inbox.held) {
      conn.pauseReading('turn'); // the end of the hold brings it back
      return;
    }
    if (!inbox.hasWork) {
      conn.resumeReading('turn');
      inbox.emptied();
      return;
    }
    inbox.queued = true;
    conn.pauseReading('turn');
    // Answers cannot be dropped: a client that does not read them waits until its output has left.
    if (conn.outputFull) conn.whenWritable(() => this.enqueue(conn));
    else this.enqueue(conn);
  }

  private enqueue(conn: Connection): void {
    this.ready.push(conn);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.round);
    }
  }

  /** One slice for every connection that waits, in the order they queued; then I/O gets its turn. */
  private readonly round = (): void => {
    this.scheduled = false;
    this.beforeRound();
    this.turn++;
    const ready = this.ready;
    this.ready = [];
    for (const conn of ready) {
      conn.inbox.queued = false;
      this.arrived(conn);
    }
  };
}
