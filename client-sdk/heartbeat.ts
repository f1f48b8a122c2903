/**
 * The client's side of liveness (protocol.md §1.4): a `ping` when none is outstanding, and the
 * connection declared dead when one is still unanswered at the second tick after it.
 *
 * Browsers throttle the timers of hidden tabs (to once a minute after a while) and freeze them
 * altogether; a throttled tab still receives frames, a frozen one does not run at all. So only a
 * check made on time judges: a tick that comes more than two intervals after the previous one
 * (the page slept) sends a fresh ping instead of counting the old one as lost. A tab that wakes
 * therefore does not drop a healthy connection, and a fleet of tabs does not reconnect at once.
 */
export class Heartbeat {
  private timer: ReturnType<typeof setInterval> | undefined;
  private probeTimer: ReturnType<typeof setTimeout> | undefined;
  private intervalMs = 0;
  /** Frames seen so far: any frame after a ping answers it (times could tie within a millisecond). */
  private frames = 0;
  private framesAtPing = 0;
  private lastTick = 0;
  /** When the outstanding ping went out; 0 when none is. */
  private pingSentAt = 0;
  private ping: () => void = () => {};
  private silent: () => void = () => {};

  /** A frame arrived. */
  seen(): void {
    this.frames++;
  }

  start(intervalMs: number, ping: () => void, silent: () => void): void {
    this.stop();
    this.intervalMs = intervalMs;
    this.ping = ping;
    this.silent = silent;
    this.lastTick = Date.now();
    this.timer = setInterval(() => this.tick(), intervalMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  /**
   * Asks the broker now, when there is reason to doubt the socket (the network came back, the
   * page became visible): without an answer within `graceMs` of timers on time, it is dead.
   */
  probe(graceMs: number): void {
    if (this.timer === undefined) return;
    clearTimeout(this.probeTimer);
    const sentAt = this.sendPing();
    const framesAtProbe = this.frames;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      if (this.frames !== framesAtProbe || this.timer === undefined) return;
      // Late itself (the page slept again): the regular ticks judge instead.
      if (Date.now() - sentAt <= 2 * graceMs) this.silent();
    }, graceMs);
    (this.probeTimer as { unref?: () => void }).unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.probeTimer);
    this.timer = undefined;
    this.probeTimer = undefined;
    this.pingSentAt = 0;
  }

  private tick(): void {
    const now = Date.now();
    const late = now - this.lastTick > 2 * this.intervalMs;
    this.lastTick = now;
    if (this.pingSentAt !== 0 && this.frames !== this.framesAtPing) this.pingSentAt = 0;
    if (this.pingSentAt === 0 || late) {
      this.sendPing();
      return;
    }
    if (now - this.pingSentAt >= 1.5 * this.intervalMs) this.silent();
  }

  private sendPing(): number {
    this.pingSentAt = Date.now();
    this.framesAtPing = this.frames;
    this.ping();
    return this.pingSentAt;
  }
}
