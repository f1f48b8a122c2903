/**
 * The client's side of liveness (protocol.md §1.4): a `ping` every interval, and the connection
 * declared dead after two intervals without any frame from the broker.
 */
export class Heartbeat {
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastSeen = 0;

  /** A frame arrived. */
  seen(): void {
    this.lastSeen = Date.now();
  }

  start(intervalMs: number, ping: () => void, silent: () => void): void {
    this.stop();
    this.timer = setInterval(() => {
      if (Date.now() - this.lastSeen > 2 * intervalMs) silent();
      else ping();
    }, intervalMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
