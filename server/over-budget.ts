/** Tuple-space events may take a connection to this many times maxPendingBytes unsent; then it is closed (§11). */
const SLOW_CONSUMER_FACTOR = 4;

/** What OverBudget reads of its connection. */
export interface BudgetSide {
  /** Outbound bytes already encoded for the socket. */
  readonly wireBytes: number;
  /** Those and the fragments interceptors still hold. */
  readonly pendingBytes: number;
  readonly maxPendingBytes: number;
  readonly maxMessageBytes: number;
  isCongested(): boolean;
  whenSocketTakes(fn: () => void): void;
  schedule(): void;
  sendFrame(frame: object): void;
}

/**
 * Whether one more tuple-space event may be queued. Events are never dropped (their `seq` has
 * no gaps) and cannot wait anywhere else, so a connection that lets them pile up past
 * SLOW_CONSUMER_FACTOR × maxPendingBytes unsent is closed with 4007 instead of buffered without
 * end (§11; OverBudget.refuseEvents).
 */
export function eventFits(side: BudgetSide): boolean {
  const limit = SLOW_CONSUMER_FACTOR * side.maxPendingBytes;
  // A small event overtakes the fragments still to be cut, so it is judged by the bytes already
  // encoded; those fragments (one large delivery admitted under the budget can leave up to
  // maxMessageBytes of them) count only for events large enough to queue behind them.
  return side.wireBytes <= limit && side.pendingBytes <= limit + side.maxMessageBytes;
}

/**
 * What a connection does once its output has passed its budget (protocol.md §11): transient
 * deliveries dropped and reported in one `warn`, tuple-space events refused and the connection
 * closed. Made the first time it happens, so a connection that keeps up holds none.
 */
export class OverBudget {
  /** Drops since the last `warn`. */
  unreported = 0;
  /** Drops not yet reported wait for the socket to take the output again (report). */
  private waiting = false;
  /** An event found the connection past its cap: it is being closed, and no later event may go out. */
  eventsRefused = false;

  constructor(private readonly side: BudgetSide) {}

  /** An event past the cap: the connection is closed as a slow consumer through `closeSlow`. */
  refuseEvents(closeSlow: (reason: string) => void): void {
    // No later event may follow, or the client would see a gap; the earlier ones still go out.
    this.eventsRefused = true;
    const reason = `slow consumer: over ${SLOW_CONSUMER_FACTOR * this.side.maxPendingBytes} bytes unsent`;
    // Not at once: the caller may be walking the very subscriptions the close removes.
    queueMicrotask(() => closeSlow(reason));
  }

  /**
   * One `warn` for the drops since the last one. A receiver that does not read would otherwise
   * get one per flush, each past the budget; the count waits until the socket takes the output
   * again, so a receiver that reads again gets one warning for all of them.
   */
  report(): void {
    const { side } = this;
    if (side.isCongested()) {
      if (this.waiting) return;
      this.waiting = true;
      side.whenSocketTakes(() => {
        this.waiting = false;
        side.schedule();
      });
      return;
    }
    const dropped = this.unreported;
    this.unreported = 0;
    side.sendFrame({
      t: 'warn', code: 'SLOW_CONSUMER', dropped,
      message: `${dropped} message(s) dropped: outbound buffer over ${side.maxPendingBytes} bytes`,
    });
  }
}
