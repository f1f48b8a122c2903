import { assertKey, compareKeys, startsWith } from './keys.js';
import type { Key, Store, StoreWrite } from './store.js';

/**
 * The store of a broker without a data folder: a map that dies with the process. It checks keys
 * and orders scans exactly as LmdbStore does, so code tested against one behaves the same on the
 * other. Values are kept by reference: the cores hand over fresh records and never change them.
 */
export class MemoryStore implements Store {
  readonly durable = false;
  /** By the key's JSON text, which keeps 1 and '1' apart. */
  private readonly entries = new Map<string, { key: Key; value: unknown }>();
  private closed = false;

  write(writes: readonly StoreWrite[]): undefined {
    if (this.closed) throw new Error('store is closed');
    // Check every key before applying any, so a bad one leaves the store as it was.
    for (const w of writes) assertKey(w.key);
    for (const { key, value } of writes) {
      const id = JSON.stringify(key);
      if (value === undefined) this.entries.delete(id);
      else this.entries.set(id, { key: [...key], value });
    }
    return undefined;
  }

  async scan(prefix: Key): Promise<Array<[Key, unknown]>> {
    const found: Array<[Key, unknown]> = [];
    for (const { key, value } of this.entries.values()) if (startsWith(key, prefix)) found.push([[...key], value]);
    return found.sort((a, b) => compareKeys(a[0], b[0]));
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
