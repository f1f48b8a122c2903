import type { Store } from './store.js';
import { withWrites } from './store-wrapper.js';

export interface FlushableStore extends Store {
  /** Resolves once every write issued so far has settled (committed or failed). */
  flushed(): Promise<void>;
}

/**
 * The store, remembering its last write. Writes commit in the order they were issued (Store), so
 * once the last one has settled every earlier one has too, and whatever waited on them (a
 * persistent publish's receipt) has been answered: a drain flushes this way before it closes
 * the connections.
 */
export function rememberLastWrite(store: Store): FlushableStore {
  let last: Promise<void> | undefined;
  const wrapped = withWrites(store, (writes) => {
    const committed = store.write(writes);
    if (committed) last = committed;
    return committed;
  });
  return Object.assign(wrapped, {
    async flushed() {
      // Settled, not fulfilled: a failed write was answered to whoever issued it.
      await last?.then(() => undefined, () => undefined);
    },
  });
}
