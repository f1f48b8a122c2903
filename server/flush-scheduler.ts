/**
 * Coalesces writes: connections with queued messages are flushed once, after the current
 * round of socket reads, so everything routed in that round leaves in one frame per connection.
 */
export interface Flushable {
  flush(): void;
}

export class FlushScheduler {
  private dirty = new Set<Flushable>();
  private scheduled = false;

  mark(target: Flushable): void {
    this.dirty.add(target);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  /** Flushes what is queued now, ahead of the scheduled flush (which then writes what came since). */
  flushNow(): void {
    if (this.dirty.size === 0) return;
    const dirty = this.dirty;
    this.dirty = new Set();
    for (const target of dirty) target.flush();
  }

  private readonly run = (): void => {
    this.scheduled = false;
    const dirty = this.dirty;
    this.dirty = new Set();
    for (const target of dirty) target.flush();
  };
}
