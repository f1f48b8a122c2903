import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { open, type Key as LmdbKey, type RootDatabase } from 'lmdb';
import { Packr } from 'msgpackr';
import { FolderLock } from './folder-lock.js';
import { ownBinaries } from './own-binaries.js';
import { assertKey, startsWith } from './keys.js';
import { asStoreFull } from './store-room.js';
import type { Key, KeyPart, RangeOptions, Store, StoreWrite } from './store.js';

/** The LMDB environment inside the data folder (one file plus its lock file), leaving room for other files. */
const FILE = 'linden.mdb';

/**
 * Values are MessagePack with the protocol's settings (plain maps, no record extension, int64
 * decoded to number or bigint as the wire does), encoded here rather than by lmdb-js:
 * - the bytes on disk are standard MessagePack that any decoder reads, and depend on no shared
 *   structures entry (lmdb-js's `sharedStructuresKey` would keep one, saved in transactions of
 *   its own);
 * - an unencodable value throws before anything of its write() is queued, so a failed write()
 *   leaves nothing half applied;
 * - binary inside a value comes back as a Buffer of its own (ownBinaries), never a view into
 *   memory LMDB reuses.
 * Values are decoded straight from the memory lmdb-js reads them into (VALUES, its decoder):
 * with `encoding: 'binary'` it copied each value into a Buffer of its own first, then msgpackr
 * copied the payload out of that again (issue 21: a draining queue reads every message).
 */
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, int64AsType: 'auto' as 'number', copyBuffers: false });

/** Values go in as the Buffers write() packed; they come out decoded, `end` being where the value ends in lmdb-js's buffer. */
const VALUES = {
  encode: (packed: Buffer): Buffer => packed,
  decode: (bytes: Uint8Array, end?: number): unknown => ownBinaries(packr.unpack(bytes, typeof end === 'number' ? end : undefined)),
};

const noop = (): void => {};
/** A full disk or map comes out as STORE_FULL, which a publisher is told as is. */
const rethrow = (err: unknown): never => {
  throw asStoreFull(err);
};

/** Above every string a valid key holds (the highest code point, twice), so above every key part. */
const ABOVE_ALL = '\u{10FFFF}\u{10FFFF}';

/**
 * The embedded store: one LMDB environment written through lmdb-js's asynchronous writes.
 *
 * Durability: opened with overlappingSync off, so LMDB syncs each transaction before its commit
 * returns and a write promise resolves only once the write is on disk. With overlappingSync on
 * (lmdb-js's default on Linux) put() resolves at commit, before the sync, and every write would
 * also need `await db.flushed`; measured with 256 writes in flight both reach about the same
 * rate here (150-180k writes/s, fdatasync ~30 µs), so we keep the setting where one promise
 * means durable and crash recovery needs no boot-id heuristics.
 *
 * Group commit: every write issued while the writer thread is busy goes into its next
 * transaction, so with 256 writes in flight a transaction carries a few hundred of them for one
 * pair of fdatasyncs (counted with strace). eventTurnBatching is off: the writer thread starts
 * on the first write instead of at the end of the event turn, so a commit overlaps the broker
 * parsing the rest of a frame of publishes (durable publish bench, six interleaved pairs:
 * 47-59k acked msgs/s with it off, 33-52k with it on).
 *
 * Atomicity: the writes of one write() call go through db.batch(), which lmdb-js keeps in one
 * transaction; keys and values are checked and encoded before it, so it cannot fail half way.
 * Writes apply in the order they were issued, across calls too.
 */
export class LmdbStore implements Store {
  readonly durable = true;
  private closing: Promise<void> | undefined;

  private constructor(private readonly db: RootDatabase<unknown, LmdbKey>, private readonly lock: FolderLock) {}

  /**
   * Opens (creating if needed) the store in folder `dir`, which it holds until close(): while it
   * is open, another open of the folder, in this process or another, fails with DATA_DIR_LOCKED
   * (server/store/folder-lock.ts).
   */
  static async open(dir: string): Promise<LmdbStore> {
    await mkdir(dir, { recursive: true });
    const lock = await FolderLock.acquire(dir);
    try {
      const db = open<unknown, LmdbKey>({ path: join(dir, FILE), encoder: VALUES, overlappingSync: false, eventTurnBatching: false });
      return new LmdbStore(db, lock);
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  write(writes: readonly StoreWrite[]): Promise<void> | undefined {
    if (this.closing) throw new Error('store is closed');
    if (writes.length === 0) return undefined;
    const values = writes.map((w) => {
      assertKey(w.key);
      return w.value === undefined ? undefined : packr.pack(w.value);
    });
    const db = this.db;
    if (writes.length === 1) return apply(db, writes[0]!.key, values[0]).then(noop, rethrow);
    return db.batch(() => {
      for (let i = 0; i < writes.length; i++) void apply(db, writes[i]!.key, values[i]);
    }).then(noop, rethrow);
  }

  async scan(prefix: Key): Promise<Array<[Key, unknown]>> {
    return this.range(prefix);
  }

  range(prefix: Key, { from, limit, reverse = false }: RangeOptions = {}): Array<[Key, unknown]> {
    const found: Array<[Key, unknown]> = [];
    if (limit !== undefined && limit <= 0) return found;
    // The keys under a prefix are one run starting at the prefix itself (the element separator
    // is byte 0, below any byte a longer last element could add), so the first miss ends it.
    // Going down, the run ends below [...prefix, ABOVE_ALL].
    const start = from ? [...prefix, ...from] : reverse ? [...prefix, ABOVE_ALL] : prefix;
    const options = start.length === 0 ? { reverse } : { start: start as LmdbKey, reverse };
    for (const { key, value } of this.db.getRange(options)) {
      // ordered-binary reads a one-element array back as the element itself.
      const k = (Array.isArray(key) ? key : [key]) as KeyPart[];
      if (!startsWith(k, prefix)) break;
      found.push([k, value]);
      if (found.length === limit) break;
    }
    return found;
  }

  get(key: Key): unknown {
    assertKey(key);
    return this.db.get(key as LmdbKey);
  }

  prefetch(keys: Key[]): void {
    if (this.closing || keys.length === 0) return;
    this.db.prefetch(keys as LmdbKey[], noop);
  }

  usedBytes(): number {
    const s = this.db.getStats() as { pageSize: number; treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number };
    return (s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages) * s.pageSize;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.db.flushed;
      } catch {
        // A failed commit was reported to the write() that issued it; closing still releases the files.
      }
      try {
        await this.db.close();
      } finally {
        await this.lock.release();
      }
    })();
    return this.closing;
  }
}

function apply(db: RootDatabase<unknown, LmdbKey>, key: Key, value: Buffer | undefined): Promise<boolean> {
  return value === undefined ? db.remove(key as LmdbKey) : db.put(key as LmdbKey, value);
}
