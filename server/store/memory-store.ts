import { assertKey, compareKeys, startsWith } from './keys.js';
import type { Key, RangeOptions, Store, StoreWrite } from './store.js';

/**
 * The store of a broker without a data folder: a map that dies with the process. It checks keys
 * and orders scans exactly as LmdbStore does, so code tested against one behaves the same on the
 * other. Values are kept by reference: the cores hand over fresh records and never change them.
 */
export class MemoryStore implements Store {
  readonly durable = false;
  /** By the key's JSON text, which keeps 1 and '1' apart. */
  private readonly entries = new Map<string, { key: Key; value: unknown; bytes: number }>();
  private bytes = 0;
  private closed = false;

  write(writes: readonly StoreWrite[]): undefined {
    if (this.closed) throw new Error('store is closed');
    // Check every key before applying any, so a bad one leaves the store as it was.
    for (const w of writes) assertKey(w.key);
    for (const { key, value } of writes) {
      const id = JSON.stringify(key);
      this.bytes -= this.entries.get(id)?.bytes ?? 0;
      if (value === undefined) {
        this.entries.delete(id);
        continue;
      }
      const entry = { key: [...key], value, bytes: id.length + roughSize(value) };
      this.entries.set(id, entry);
      this.bytes += entry.bytes;
    }
    return undefined;
  }

  async scan(prefix: Key): Promise<Array<[Key, unknown]>> {
    return this.range(prefix);
  }

  /** Sorts what it finds: a broker on a MemoryStore reads it only at start (when it is empty) and for inspection. */
  range(prefix: Key, { from, limit, reverse = false }: RangeOptions = {}): Array<[Key, unknown]> {
    const found: Array<[Key, unknown]> = [];
    for (const { key, value } of this.entries.values()) if (startsWith(key, prefix)) found.push([[...key], value]);
    found.sort((a, b) => (reverse ? compareKeys(b[0], a[0]) : compareKeys(a[0], b[0])));
    let first = 0;
    if (from) {
      const start = [...prefix, ...from];
      while (first < found.length && (reverse ? compareKeys(found[first]![0], start) > 0 : compareKeys(found[first]![0], start) < 0)) first++;
    }
    return found.slice(first, limit === undefined ? undefined : first + Math.max(0, limit));
  }

  get(key: Key): unknown {
    assertKey(key);
    return this.entries.get(JSON.stringify(key))?.value;
  }

  usedBytes(): number {
    return this.bytes;
  }

  prefetch(): void {}

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** About the bytes a value would take encoded: enough for a size limit, cheap enough for every put. */
function roughSize(value: unknown): number {
  if (value instanceof Uint8Array) return value.length + 5;
  if (typeof value === 'string') return value.length + 5;
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + roughSize(v), 5);
  if (value !== null && typeof value === 'object') {
    let n = 5;
    for (const [k, v] of Object.entries(value)) n += k.length + 1 + roughSize(v);
    return n;
  }
  return 9;
}
