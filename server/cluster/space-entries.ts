/*
 * A tuple as the cluster's spaces keep it in Redis (the `t` hash, events, hand-overs): its
 * record is MessagePack of [values, lease end or null, headers or null, watch?]; its equality
 * index keys. The watch names the writer waiting for a taker (an `out` with ack `delivery` or
 * `processing`), so whichever node hands the tuple over can tell the writer's node.
 */
import { packr } from '../../protocol/codec.js';
import type { Headers } from '../../protocol/frames.js';
import { finite } from '../space/space-wire.js';
import { storedTuple, type StoredTuple } from '../space/stored-tuple.js';
import { canonicalKey } from '../space/values.js';
import { spaceKey } from './space-scripts.js';

/** Longest value (canonicalKey) kept in an equality index: longer ones are matched by scanning. */
const MAX_INDEXED_KEY = 120;

/** The writer of a watched tuple: its node, the watch's id there, the stage it waits for. */
export type TupleWatch = [node: string, id: number, stage: 'delivery' | 'processing'];

/** The records and watches of the tuples read from Redis, kept so a tuple put back is written as it was. */
const records = new WeakMap<StoredTuple, Buffer>();
const watches = new WeakMap<StoredTuple, TupleWatch>();

export function packRecord(values: unknown[], expiresAt: number, hdr: Headers | undefined, watch?: TupleWatch): Buffer {
  if (watch) return packr.pack([values, finite(expiresAt), hdr ?? null, watch]);
  return packr.pack(hdr === undefined ? [values, finite(expiresAt)] : [values, finite(expiresAt), hdr]);
}

/** The record the tuple was read from (watch included), or its record packed anew. */
export function recordOf(t: StoredTuple): Buffer {
  return records.get(t) ?? packRecord(t.values, t.expiresAt, t.hdr);
}

/** The writer waiting on the tuple read from Redis, if any. */
export function watchOf(t: StoredTuple): TupleWatch | undefined {
  return watches.get(t);
}

export function tupleOf(space: string, tid: string, seq: number, rec: Buffer): StoredTuple {
  const [values, expiresAt, hdr, watch] = packr.unpack(rec) as [unknown[], number | null, Headers | null | undefined, TupleWatch | undefined];
  const t = storedTuple(seq, tid, space, values, expiresAt ?? Infinity, rec.length, hdr ?? undefined);
  records.set(t, rec);
  if (watch) watches.set(t, watch);
  return t;
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
