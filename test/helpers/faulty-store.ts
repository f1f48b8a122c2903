import type { Key, Store, StoreWrite } from '../../server/store/store.js';

/**
 * The broker's real store (memory or LMDB) with two faults a test can switch on, passed to
 * startBroker(options, { wrapStore }):
 * - `failWrites(match)`: a write() holding a key that `match` accepts stores nothing and rejects,
 *   as a full disk or a failed fsync would;
 * - `hold()` / `release()`: writes wait, in order, until released, as on a slow disk; the real
 *   store only sees them then.
 * Everything else goes straight through.
 */
export class FaultyStore implements Store {
  private failing: ((key: Key) => boolean) | undefined;
  private held: (() => void)[] | undefined;
  /** Writes refused so far. */
  failed = 0;

  constructor(private readonly inner: Store) {}

  get durable(): boolean {
    return this.inner.durable;
  }

  failWrites(match: ((key: Key) => boolean) | undefined): void {
    this.failing = match;
  }

  hold(): void {
    this.held ??= [];
  }

  /** Lets the held writes through, in the order they came. */
  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const go of held) go();
  }

  /** How many writes wait for release(). */
  get holding(): number {
    return this.held?.length ?? 0;
  }

  write(writes: readonly StoreWrite[]): Promise<void> | undefined {
    if (this.failing && writes.some((w) => this.failing!(w.key))) {
      this.failed++;
      return Promise.reject(new Error('injected store failure: nothing was written'));
    }
    if (!this.held) return this.inner.write(writes);
    return new Promise<void>((resolve, reject) => {
      this.held!.push(() => {
        try {
          const done = this.inner.write(writes);
          if (done) done.then(resolve, reject);
          else resolve();
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  scan(prefix: Key): Promise<Array<[Key, unknown]>> {
    return this.inner.scan(prefix);
  }

  close(): Promise<void> {
    this.release();
    return this.inner.close();
  }
}
