import type { QueuedMessage } from './queue-records.js';

interface Delayed {
  readonly message: QueuedMessage;
  readonly timer: ReturnType<typeof setTimeout>;
}

/**
 * A queue's messages out of line while they wait out a nack's delay, by seq; each goes to `back`
 * once its delay has passed. A queue makes one with its first delayed nack: most never have one
 * (issue 21: many small queues).
 */
export class NackDelays {
  private readonly waiting = new Map<number, Delayed>();

  constructor(private readonly back: (m: QueuedMessage) => void) {}

  get size(): number {
    return this.waiting.size;
  }

  /** The waits, for inspection (queue-inspection.ts). */
  values(): Iterable<{ readonly message: QueuedMessage }> {
    return this.waiting.values();
  }

  messages(): QueuedMessage[] {
    return [...this.waiting.values()].map((d) => d.message);
  }

  get(seq: number): QueuedMessage | undefined {
    return this.waiting.get(seq)?.message;
  }

  /** Out of line for `delay` ms. */
  add(m: QueuedMessage, delay: number): void {
    const timer = unref(setTimeout(() => {
      this.waiting.delete(m.seq);
      this.back(m);
    }, delay));
    this.waiting.set(m.seq, { message: m, timer });
  }

  /** Ends the wait of `m` early (its expiry); false when `m` is not waiting here. */
  cancel(m: QueuedMessage): boolean {
    const delayed = this.waiting.get(m.seq);
    if (delayed?.message !== m) return false;
    clearTimeout(delayed.timer);
    this.waiting.delete(m.seq);
    return true;
  }

  /** Ends every wait (the queue is deleted); returns the messages that waited. */
  clear(): QueuedMessage[] {
    const messages = this.messages();
    this.stop();
    this.waiting.clear();
    return messages;
  }

  /** Ends every timer; the messages stay in the store. */
  stop(): void {
    for (const d of this.waiting.values()) clearTimeout(d.timer);
  }
}

/** Delays must not keep a stopping broker's process alive. */
function unref(timer: ReturnType<typeof setTimeout>): ReturnType<typeof setTimeout> {
  timer.unref();
  return timer;
}
