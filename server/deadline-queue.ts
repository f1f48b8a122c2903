/**
 * Deadlines that are all the same delay from when they were set (a handshake's, a refused
 * connection's grace), served by one timer (DESIGN.md §5 "Time": no timer per connection).
 * With one delay, the order things were added in is the order they fall due, so an
 * insertion-ordered Set is the queue and its first entry the one the timer waits for. An entry
 * removed before its deadline costs nothing but a Set deletion; the timer is armed again for
 * whatever is first when it fires.
 */
export class DeadlineQueue<T> {
  private readonly due = new Map<T, number>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** `expire` is called for each entry still here `delayMs` after it was added. */
  constructor(private readonly delayMs: number, private readonly expire: (entry: T) => void) {}

  add(entry: T, now = Date.now()): void {
    this.due.set(entry, now + this.delayMs);
    if (this.timer === undefined) this.arm(now + this.delayMs, now);
  }

  delete(entry: T): void {
    this.due.delete(entry);
    // The timer stays: firing for nothing once is cheaper than finding the next deadline now.
    if (this.due.size === 0) this.disarm();
  }

  get size(): number {
    return this.due.size;
  }

  stop(): void {
    this.due.clear();
    this.disarm();
  }

  private arm(at: number, now: number): void {
    this.timer = setTimeout(this.fire, Math.max(0, at - now));
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    const now = Date.now();
    for (const [entry, at] of this.due) {
      if (at > now) {
        this.disarm(); // an entry added by `expire` may have armed a later one
        this.arm(at, now);
        return;
      }
      this.due.delete(entry);
      this.expire(entry);
    }
  };
}
