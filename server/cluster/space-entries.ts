/*
 * A tuple as the cluster's spaces keep it in Redis (the `t` hash, events, hand-overs): its
 * record is MessagePack of [values, lease end or null, headers?]; its equality index keys.
 */
import { packr } from '../../protocol/codec.js';
import type { Headers } from '../../protocol/frames.js';
import { finite } from '../space/space-wire.js';
import { storedTuple, type StoredTuple } from '../space/stored-tuple.js';
import { canonicalKey } from '../space/values.js';
import { spaceKey } from './space-scripts.js';

/** Longest value (canonicalKey) kept in an equality index: longer ones are matched by scanning. */
const MAX_INDEXED_KEY = 120;

export function packRecord(values: unknown[], expiresAt: number, hdr: Headers | undefined): Buffer {
  return packr.pack(hdr === undefined ? [values, finite(expiresAt)] : [values, finite(expiresAt), hdr]);
}

export function tupleOf(space: string, tid: string, seq: number, rec: Buffer): StoredTuple {
  const [values, expiresAt, hdr] = packr.unpack(rec) as [unknown[], number | null, Headers | undefined];
  return storedTuple(seq, tid, space, values, expiresAt ?? Infinity, rec.length, hdr);
}

/** The equality index of one value at one position, or undefined when the value is too long to index. */
export function equalityKey(space: string, arity: number, position: number, key: string): string | undefined {
  return key.length <= MAX_INDEXED_KEY ? spaceKey(space, `e:${arity}:${position}:${key}`) : undefined;
}

/** The equality index keys a tuple is filed under. */
export function equalityKeys(space: string, values: unknown[]): string[] {
  const keys: string[] = [];
  for (let i = 0; i < values.length; i++) {
    const key = equalityKey(space, values.length, i, canonicalKey(values[i]));
    if (key) keys.push(key);
  }
  return keys;
}
