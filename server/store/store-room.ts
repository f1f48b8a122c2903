import { statfs } from 'node:fs/promises';
import { LindenError } from '../../protocol/errors.js';
import type { Store } from './store.js';

/** Checks between two readings of the store's size while it has room: reading it costs a system call. */
const EVERY = 64;

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
  private full = false;
  /** The store's size when a write found no space: room again once below it. */
  private fullAt = Infinity;

  private constructor(private readonly store: Store, private readonly maxBytes: number | undefined) {}

  check(): void {
    if (this.maxBytes === undefined && this.fullAt === Infinity) return;
    if (!this.full && this.checks++ % EVERY !== 0) return;
    const used = this.store.usedBytes();
    this.full = used >= (this.maxBytes ?? Infinity) || used >= this.fullAt;
    if (!this.full) {
      this.fullAt = Infinity;
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
