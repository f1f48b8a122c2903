import { statfs } from 'node:fs/promises';
import { LindenError } from '../../protocol/errors.js';
import type { Store } from './store.js';

/**
 * What a check takes a write to add to the store at most: its payload twice over (LMDB's pages
 * are half full after a split) and a kilobyte for its keys, record fields and index entries.
 */
const GROWTH_PER_BYTE = 2;
const GROWTH_PER_WRITE = 1024;
/** Checks between two readings at most, however far the limit: a write that does not ask (a delivery count) grows the store too. */
const MOST_CHECKS = 4_096;

/** A write that failed for want of space (the disk, or LMDB's map), as a STORE_FULL error; anything else as it was. */
export function asStoreFull(err: unknown): unknown {
  const text = err instanceof Error ? `${(err as { code?: unknown }).code ?? ''} ${err.message}` : String(err);
  if (!/ENOSPC|MDB_MAP_FULL|No space left|MAP_FULL/i.test(text)) return err;
  return new LindenError('STORE_FULL', 'the disk of the broker\'s store is full; nothing was stored');
}

/** The default maxStoreBytes: what the store holds now plus 90% of what the disk has free. */
export async function defaultMaxStoreBytes(store: Store, dataDir: string): Promise<number> {
  const fs = await statfs(dataDir);
  return store.usedBytes() + Math.floor(fs.bavail * fs.bsize * 0.9);
}

/**
 * The store's size limit (maxStoreBytes) as the cores ask it before a write that grows the store
 * for a client: check() throws STORE_FULL at the limit, or after a write found the disk full
 * until the store has shrunk since. Deletions never ask: they are what frees room.
 */
export class StoreRoom {
  private static readonly rooms = new WeakMap<Store, StoreRoom>();

  /** The one StoreRoom of a store, shared by the cores: a full disk one finds is full for all. */
  static of(store: Store, maxBytes: number | undefined): StoreRoom {
    let room = StoreRoom.rooms.get(store);
    if (!room) StoreRoom.rooms.set(store, (room = new StoreRoom(store, maxBytes)));
    return room;
  }

  private checks = 0;
  /** Growth the checks may count before the store's size is read again: half the room left at the last reading. */
  private allowance = 0;
  private full = false;
  /** The store's size when a write found no space: room again once below it. */
  private fullAt = Infinity;

  private constructor(private readonly store: Store, private readonly maxBytes: number | undefined) {}

  /**
   * `bytes`: the payload the write carries, when known. Reading the store's size costs LMDB statistics (5-18
   * µs), so it is read again only once the writes checked since could have taken half the room
   * left, or after MOST_CHECKS: far from the limit seldom, near it at every write.
   */
  check(bytes?: number): void {
    if (this.maxBytes === undefined && this.fullAt === Infinity) return;
    if (!this.full) {
      this.allowance -= (bytes ?? 0) * GROWTH_PER_BYTE + GROWTH_PER_WRITE;
      // A write of unknown size counts for many: alone, they read the size every 64th, as all checks once did.
      this.checks += bytes === undefined ? MOST_CHECKS / 64 : 1;
      if (this.allowance > 0 && this.checks < MOST_CHECKS) return;
    }
    this.checks = 0;
    const used = this.store.usedBytes();
    this.full = used >= (this.maxBytes ?? Infinity) || used >= this.fullAt;
    if (!this.full) {
      this.fullAt = Infinity;
      this.allowance = ((this.maxBytes ?? used) - used) / 2;
      return;
    }
    throw new LindenError(
      'STORE_FULL',
      used >= (this.maxBytes ?? Infinity)
        ? `the broker's store holds ${used} bytes, its maxStoreBytes is ${this.maxBytes}: nothing was stored; room comes back as messages are acknowledged or purged`
        : 'the disk of the broker\'s store is full: nothing was stored; room comes back as messages are acknowledged or purged',
      { usedBytes: used, maxStoreBytes: this.maxBytes ?? null },
    );
  }

  /** A write failed; a STORE_FULL failure makes the store full until it shrinks. */
  failed(err: unknown): void {
    if (!(err instanceof LindenError) || err.code !== 'STORE_FULL') return;
    this.full = true;
    this.fullAt = Math.min(this.fullAt, this.store.usedBytes());
  }
}
