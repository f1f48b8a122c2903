/**
 * Coalesces writes: connections with queued messages are flushed once, after the current
 * round of socket reads, so everything routed in that round leaves in one frame per connection.
 */
export interface Flushable {
  flush(): void;
}

/**
 * Targets marked since the last flush, kept in an array that is reused rather than emptied
 * (`length = 0` would free its storage and the next push allocate it again).
 */
class Marks {
  private readonly targets: (Flushable | undefined)[] = [];
  count = 0;

  push(target: Flushable): void {
    this.targets[this.count++] = target;
  }

  /** Flushes every target, letting go of each as it goes. */
  flushAll(): void {
    const targets = this.targets;
    const n = this.count;
    try {
      for (let i = 0; i < n; i++) {
        const target = targets[i]!;
        targets[i] = undefined;
        target.flush();
      }
    } finally {
      this.count = 0;
    }
  }
}

export class FlushScheduler {
  /**
   * Marked since the last flush; two lists take turns, so marks made while one is flushed wait
   * in the other. A Set made afresh per round was ~300 bytes of garbage per request/reply
   * (issue 14). A target marks itself at most once until flushed (Connection keeps a flag), so
   * no Set is needed to drop repeats.
   */
  private dirty = new Marks();
  /** The other list, or undefined while it is being flushed. */
  private spare: Marks | undefined = new Marks();
  private scheduled = false;

  mark(target: Flushable): void {
    this.dirty.push(target);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  /** Flushes what is queued now, ahead of the scheduled flush (which then writes what came since). */
  flushNow(): void {
    if (this.dirty.count > 0) this.flushDirty();
  }

  private readonly run = (): void => {
    this.scheduled = false;
    this.flushDirty();
  };

  private flushDirty(): void {
    const dirty = this.dirty;
    // A flush within a flush (none today) gets a list of its own.
    this.dirty = this.spare ?? new Marks();
    this.spare = undefined;
    try {
      dirty.flushAll();
    } finally {
      this.spare = dirty;
    }
  }
}
