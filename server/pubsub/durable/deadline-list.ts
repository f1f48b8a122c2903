/** An entry of a DeadlineList: the list's links live in the entry, so adding one allocates nothing. */
export interface Due {
  /** When it comes due, in ms since the epoch. */
  at: number;
  prev: Due | undefined;
  next: Due | undefined;
  /** Whether it is in a list now. */
  listed: boolean;
}

/**
 * Deadlines served by one timer (DESIGN.md §5 "Time": no timer per message). A queue's
 * deliveries share its ackWait, so they come due in the order they were made: kept in that
 * order, adding and removing one is O(1), and only the head needs a timer. One that comes due
 * before the tail (the ackWait was lowered) walks back to its place.
 *
 * The timer is not moved when the head leaves (an ack): it fires at the old head's time, finds
 * the new head not yet due and sleeps until it is, at most one wake per deadline span.
 */
export class DeadlineList<T extends Due> {
  private head: Due | undefined;
  private tail: Due | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private armedFor = Infinity;

  /** `due(entry)`: its time came; it is out of the list by then. */
  constructor(private readonly due: (entry: T) => void) {}

  add(entry: T, at: number): void {
    entry.at = at;
    entry.listed = true;
    let after = this.tail;
    while (after && after.at > at) after = after.prev;
    entry.prev = after;
    entry.next = after ? after.next : this.head;
    if (entry.next) entry.next.prev = entry;
    else this.tail = entry;
    if (after) after.next = entry;
    else this.head = entry;
    if (at < this.armedFor) this.arm(at);
  }

  remove(entry: T): void {
    if (!entry.listed) return;
    entry.listed = false;
    if (entry.prev) entry.prev.next = entry.next;
    else this.head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    else this.tail = entry.prev;
    entry.prev = undefined;
    entry.next = undefined;
  }

  /** Ends the timer; the entries stay where they are, due no more. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
  }

  private arm(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = at;
    // Deadlines must not keep a stopping broker's process alive.
    this.timer = setTimeout(this.fire, Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = Date.now();
    while (this.head && this.head.at <= now) {
      const entry = this.head as T;
      this.remove(entry);
      this.due(entry);
    }
    if (this.head && this.head.at < this.armedFor) this.arm(this.head.at);
  };
}
