import type { Store, StoreWrite } from './store.js';

/**
 * `store`, with its writes passed through `write` and everything else straight to it: the one
 * shape of the wrappers that watch writes (commit timing, the last write a drain flushes).
 */
export function withWrites(store: Store, write: (writes: readonly StoreWrite[]) => Promise<void> | undefined): Store {
  return {
    get durable() {
      return store.durable;
    },
    write,
    scan: (prefix) => store.scan(prefix),
    range: (prefix, options) => store.range(prefix, options),
    get: (key) => store.get(key),
    usedBytes: () => store.usedBytes(),
    prefetch: (keys) => store.prefetch(keys),
    close: () => store.close(),
  };
}
