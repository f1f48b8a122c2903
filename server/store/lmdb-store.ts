import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { open, type Key as LmdbKey, type RootDatabase } from 'lmdb';
import { Packr } from 'msgpackr';
import { FolderLock } from './folder-lock.js';
import { ownBinaries } from './own-binaries.js';
import { assertKey, startsWith } from './keys.js';
import { asStoreFull } from './store-room.js';
import { ValuePacker } from './value-packer.js';
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
/** What `packr` would write, for the records the cores store, written faster. */
const packer = new ValuePacker(packr);

/** Values go in as the Buffers write() packed; they come out decoded, `end` being where the value ends in lmdb-js's buffer. */
const VALUES = {
  encode: (packed: Buffer): Buffer => packed,
  decode: (bytes: Uint8Array, end?: number): unknown => ownBinaries(packr.unpack(bytes, typeof end === 'number' ? end : undefined)),
};

const noop = (): void => {};
const RESOLVED = Promise.resolve();

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
 * Group commit: the write() calls of one tick (a frame of persistent publishes, each a call)
 * go to LMDB together at its end, as one db.batch() with one promise (WriteGroup), and a queue's
 * counters, rewritten by every message, are written once. Whatever LMDB receives while its
 * writer thread is busy goes into its next transaction, so with 256 publishes in flight a
 * transaction carries about 140 of them for one pair of fdatasyncs, against about 50 when
 * every call was a batch of its own (strace, 100,000 publishes: 735 transactions, was 2,052);
 * the broker's CPU per acknowledged publish fell from 14.5 to 11.7 µs. eventTurnBatching is off:
 * with the group already formed, lmdb-js need not wait for the turn's end again.
 *
 * Atomicity: the writes of one write() call are in one group, and a group is one batch, which
 * lmdb-js keeps in one transaction; keys and values are checked and encoded before the call adds
 * anything to the group, so it cannot fail half way.
 * Writes apply in the order they were issued, across calls too.
 */
export class LmdbStore implements Store {
  readonly durable = true;
  private closing: Promise<void> | undefined;
  /** The writes issued in this tick, not yet handed to LMDB. */
  private group: WriteGroup | undefined;

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
    // Every value is encoded before any of them joins the group: a write() that throws adds nothing.
    const values = writes.map((w) => {
      assertKey(w.key);
      return w.value === undefined ? undefined : packer.pack(w.value);
    });
    let group = this.group;
    if (!group) {
      group = this.group = new WriteGroup();
      void RESOLVED.then(this.issueGroup);
    }
    for (let i = 0; i < writes.length; i++) group.add(writes[i]!.key, values[i]);
    return group.committed;
  }

  /** Made once: a closure per group would be garbage per tick. */
  private readonly issueGroup = (): void => {
    const group = this.group;
    if (!group) return;
    this.group = undefined;
    const db = this.db;
    db.batch(() => {
      const { keys, values } = group;
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i];
        if (key !== undefined) void apply(db, key, values[i]);
      }
    // A full disk or map comes out as STORE_FULL, which a publisher is told as is.
    }).then(group.resolve, (err: unknown) => group.reject(asStoreFull(err)));
  };

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
    // What this tick wrote goes to LMDB before the store waits for LMDB to be done.
    if (!this.closing) this.issueGroup();
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

/**
 * The writes of every write() call of one tick, in the order issued, for one db.batch(): one
 * LMDB batch, one promise and one resolution per tick instead of per call (a persistent publish
 * is a call). A later put or delete of the same key array (a queue's counters, rewritten with
 * every message) makes the earlier one of the group pointless: the batch is one transaction, so
 * only a key's last write shows, on disk and to readers. Keys equal but not the same array are
 * both written, which is only slower.
 */
class WriteGroup {
  readonly keys: (Key | undefined)[] = [];
  readonly values: (Buffer | undefined)[] = [];
  private readonly at = new Map<Key, number>();
  resolve!: () => void;
  reject!: (err: unknown) => void;
  readonly committed = new Promise<void>((resolve, reject) => {
    this.resolve = resolve;
    this.reject = reject;
  });

  add(key: Key, value: Buffer | undefined): void {
    const earlier = this.at.get(key);
    if (earlier !== undefined) this.keys[earlier] = undefined;
    this.at.set(key, this.keys.length);
    this.keys.push(key);
    this.values.push(value);
  }
}

function apply(db: RootDatabase<unknown, LmdbKey>, key: Key, value: Buffer | undefined): Promise<boolean> {
  return value === undefined ? db.remove(key as LmdbKey) : db.put(key as LmdbKey, value);
}
