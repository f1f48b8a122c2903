/**
 * A push queue read with `for await`: producers push, one consumer pulls. Ending it lets the
 * consumer drain what is queued; failing it throws after the queue is drained.
 */
export class QueuedIterator<T> implements AsyncIterableIterator<T> {
  private readonly queue: T[] = [];
  private head = 0;
  private waiting: ((r: IteratorResult<T>) => void) | undefined;
  private failWaiting: ((err: Error) => void) | undefined;
  private ended = false;
  private error: Error | undefined;

  constructor(private readonly onReturn?: () => void) {}

  get pending(): number {
    return this.queue.length - this.head;
  }

  get done(): boolean {
    return this.ended;
  }

  push(value: T): void {
    if (this.ended) return;
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = this.failWaiting = undefined;
      waiting({ value, done: false });
      return;
    }
    this.queue.push(value);
  }

  end(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    const waiting = this.waiting;
    const failWaiting = this.failWaiting;
    this.waiting = this.failWaiting = undefined;
    if (error && failWaiting) failWaiting(error);
    else waiting?.({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T>> {
    if (this.head < this.queue.length) {
      const value = this.queue[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.ended) return this.error ? Promise.reject(this.error) : Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failWaiting = reject;
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.end();
    this.onReturn?.();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
