import type { StoreWrite } from '../../store/store.js';

/**
 * A queue's writes that nobody waits for at once (delivery counts, acknowledged deletions),
 * gathered until the end of the tick or until the queue's next write, whichever comes first:
 * then they go first in that write, in one transaction, so the queue's writes keep their order
 * and a draining consumer costs one transaction per tick instead of one per message.
 * Whoever takes them must issue them with counters taken after every change they stand for.
 */
export class DeferredWrites {
  private writes: StoreWrite[] = [];
  private done: { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } | undefined;

  /** `flush` issues them at the end of the tick if no write took them before. */
  constructor(private readonly flush: () => void) {}

  get pending(): boolean {
    return this.done !== undefined;
  }

  /** Adds writes; the promise resolves once the write that carries them is stored. */
  add(writes: readonly StoreWrite[]): Promise<void> {
    if (!this.done) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(() => {}); // reported by the write that carried them
      this.done = { promise, resolve, reject };
      queueMicrotask(this.flush);
    }
    for (const w of writes) this.writes.push(w);
    return this.done.promise;
  }

  /**
   * Takes the writes gathered so far (none: undefined) to go first in a write about to be issued;
   * `issued` is given that write's promise (undefined: applied already).
   */
  take(): { writes: StoreWrite[]; issued(written: Promise<void> | undefined): void } | undefined {
    const done = this.done;
    if (!done) return undefined;
    const writes = this.writes;
    this.writes = [];
    this.done = undefined;
    return {
      writes,
      issued(written) {
        if (written) written.then(done.resolve, done.reject);
        else done.resolve();
      },
    };
  }
}
