import type { Headers } from '../../protocol/headers.js';
import type { Key, StoreWrite } from '../store/store.js';
import type { StoredTuple } from './stored-tuple.js';

/**
 * How persistent spaces lie in the Store:
 *   ['sp', space]       -> SpaceRecord   a persistent space (transient ones are never stored)
 *   ['st', space, seq]  -> TupleRecord   a tuple it holds, reserved ones included, in seq order
 *   ['sq']              -> number        no tuple seq at or above it was handed out yet (tuple-ids.ts)
 * A tuple taken by a plain `in` straight from its `out` is never stored; one taken under
 * reservation stays stored until the taker acknowledges it, so a crash gives it back.
 */
export interface SpaceRecord {
  persistent: true;
  createdAt: number;
}

export interface TupleRecord {
  tid: string;
  values: unknown[];
  /** ms since the epoch; null without a lease. */
  expiresAt: number | null;
  /** The writer's headers; absent without (and in records written before headers existed). */
  hdr?: Headers;
}

export const SPACES_PREFIX: Key = ['sp'];
export const TUPLES_PREFIX: Key = ['st'];
export const SEQ_KEY: Key = ['sq'];

export const putSpace = (space: string, createdAt: number): StoreWrite => ({ key: ['sp', space], value: { persistent: true, createdAt } satisfies SpaceRecord });
export const deleteSpace = (space: string): StoreWrite => ({ key: ['sp', space] });

export function putTuple(t: StoredTuple): StoreWrite {
  const value: TupleRecord = { tid: t.tid, values: t.values, expiresAt: Number.isFinite(t.expiresAt) ? t.expiresAt : null };
  if (t.hdr !== undefined) value.hdr = t.hdr;
  return { key: ['st', t.space, t.seq], value };
}

export const deleteTuple = (t: StoredTuple): StoreWrite => ({ key: ['st', t.space, t.seq] });
export const putSeqMark = (mark: number): StoreWrite => ({ key: SEQ_KEY, value: mark });
