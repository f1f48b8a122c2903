import { Histogram } from 'prom-client';
import type { Store } from '../store/store.js';
import { withWrites } from '../store/store-wrapper.js';

/**
 * Store commit latency: from write() to the promise that says the writes are on disk, which is
 * what a persistent publish waits for before its submission receipt. A memory store promises
 * nothing (write() returns undefined), so it records nothing.
 */
export function commitHistogram(): Histogram {
  return new Histogram({
    name: 'linden_store_commit_seconds',
    help: 'Time from a store write to its commit on disk (LMDB group commits share one fsync)',
    // From a warm page cache to a slow disk's fsync.
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [],
  });
}

/** The store, with every commit timed into `histogram`; everything else passes straight through. */
export function timeCommits(store: Store, histogram: Histogram): Store {
  // The writes of one tick share one commit and one promise (LmdbStore's group): timed once, from the first.
  let timed: Promise<void> | undefined;
  return withWrites(store, (writes) => {
    const committed = store.write(writes);
    if (committed && committed !== timed) {
      timed = committed;
      const end = histogram.startTimer();
      // Observed whichever way it ends; the caller still gets the original promise and its rejection.
      committed.then(() => end(), () => end());
    }
    return committed;
  });
}
