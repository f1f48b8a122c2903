import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker, type Broker } from '../../server/broker.js';
import type { Key, RangeOptions, Store, StoreWrite } from '../../server/store/store.js';
import { rawClients, type RawClients } from './raw-client.js';

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

  range(prefix: Key, options?: RangeOptions): Array<[Key, unknown]> {
    return this.inner.range(prefix, options);
  }

  get(key: Key): unknown {
    return this.inner.get(key);
  }

  usedBytes(): number {
    return this.inner.usedBytes();
  }

  prefetch(keys: Key[]): void {
    this.inner.prefetch(keys);
  }

  close(): Promise<void> {
    this.release();
    return this.inner.close();
  }
}

/** A broker on a FaultyStore, with raw clients, that a test file starts per test (faultyBrokers()). */
export interface FaultyBrokers {
  readonly raw: RawClients;
  readonly broker: Broker;
  readonly store: FaultyStore;
  /** A broker on the memory store, or on LMDB in a fresh folder removed after the test. */
  start(kind?: 'memory' | 'lmdb'): Promise<Broker>;
  /** Closes the broker and starts a plain one on the same folder: what survived on disk. */
  restart(): Promise<Broker>;
  /** The admin API's view of a queue. */
  view(name: string): Promise<Record<string, unknown>>;
}

/**
 * Registers the cleanup after each test (held writes released, clients and broker closed, the
 * folder removed, and no malformed frame from the broker) and returns the starter.
 */
export function faultyBrokers(folderPrefix: string): FaultyBrokers {
  const raw = rawClients();
  let broker: Broker | undefined;
  let store: FaultyStore | undefined;
  let dataDir: string | undefined;
  afterEach(async () => {
    store?.release();
    const violations = raw.violations();
    await raw.closeAll();
    await broker?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    broker = store = dataDir = undefined;
    expect(violations).toEqual([]);
  });
  return {
    raw,
    get broker() { return broker!; },
    get store() { return store!; },
    async start(kind = 'memory') {
      if (kind === 'lmdb') dataDir = await mkdtemp(join(tmpdir(), folderPrefix));
      broker = await startBroker({ port: 0, logLevel: 'silent', ...(dataDir ? { dataDir } : {}) }, {
        wrapStore: (real) => (store = new FaultyStore(real)),
      });
      return broker;
    },
    async restart() {
      await broker!.close();
      broker = await startBroker({ port: 0, logLevel: 'silent', ...(dataDir ? { dataDir } : {}) });
      return broker;
    },
    async view(name) {
      const res = await fetch(`${broker!.url.replace(/^ws/, 'http')}/api/queues/${name}`);
      return (await res.json()) as Record<string, unknown>;
    },
  };
}
