/**
 * Where the cores keep what must outlive the process: an ordered key-value log. The in-memory
 * indexes of the cores are the working set; a Store is the record they are rebuilt from at
 * start. Keys are arrays ordered element by element (numbers before strings and by value, strings by code point, i.e. UTF-8 byte order),
 * so a core lays its records out under a prefix, e.g. ['m', queue, seq], and reads them back in
 * order with scan(prefix), or a piece at a time with range().
 *
 * Implementations: MemoryStore (nothing survives the process; for brokers without a data
 * folder) and LmdbStore (the embedded default). Both pass test/store.test.ts.
 */
export type KeyPart = string | number;
export type Key = readonly KeyPart[];

/** A put, or a delete when `value` is undefined. */
export interface StoreWrite {
  readonly key: Key;
  readonly value?: unknown;
}

/** Which piece of a prefix range() reads. */
export interface RangeOptions {
  /** Starts at [...prefix, ...from] (inclusive; going down from it when `reverse`); default: the first (last) entry. */
  readonly from?: Key;
  /** At most this many entries. */
  readonly limit?: number;
  /** Highest key first. */
  readonly reverse?: boolean;
}

export interface Store {
  /** True when an acknowledged write survives a crash of the process and of the machine. */
  readonly durable: boolean;
  /**
   * Applies the writes atomically and in order after every earlier write. Returns undefined
   * when they are already applied and nothing more is promised (memory), or a promise that
   * resolves once they are committed and flushed to disk. Concurrent calls are group-committed:
   * many writes share one transaction and one fsync.
   */
  write(writes: readonly StoreWrite[]): Promise<void> | undefined;
  /** Every entry whose key starts with `prefix`, in key order. For recovery and inspection, not hot paths. */
  scan(prefix: Key): Promise<Array<[Key, unknown]>>;
  /**
   * Entries under `prefix`, in key order, from a point and up to a count: synchronous, for the
   * reads a hot path can afford (LMDB reads its memory map without a copy or a thread hop). It
   * sees writes once they are applied: for LmdbStore, once their promise resolved.
   */
  range(prefix: Key, options?: RangeOptions): Array<[Key, unknown]>;
  /** The value at `key`, or undefined; synchronous, as range(). */
  get(key: Key): unknown;
  /** Bytes the entries take in the store (pages in use for LmdbStore, an estimate for MemoryStore). */
  usedBytes(): number;
  /**
   * A hint: these keys (present or not) will be read soon. LmdbStore touches their pages in a
   * thread of its own, so the read that follows does not wait for the memory map to fault them
   * in; MemoryStore has nothing to do.
   */
  prefetch(keys: Key[]): void;
  /** Resolves once every write so far is durable, then releases the store. */
  close(): Promise<void>;
}
