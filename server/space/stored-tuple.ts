import { packr } from '../../protocol/codec.js';
import type { Headers } from '../../protocol/headers.js';
import type { Lease } from '../../protocol/lease-heap.js';
import { indexKey, type IndexKey } from './values.js';

/** A tuple in a space, with what the indexes need computed once when it is written. */
export interface StoredTuple {
  /** Position in the broker-wide write order: lower is older. Kept when a reservation puts it back. */
  readonly seq: number;
  readonly tid: string;
  readonly space: string;
  readonly values: unknown[];
  /** The writer's headers, returned with the tuple wherever it is returned; undefined without. */
  readonly hdr: Headers | undefined;
  /**
   * indexKey of each field, for the equality indexes, when one of them is binary, an array or an
   * object: their keys are strings worth making once, and the index swaps each for its bucket's
   * own copy, so tuples that share such a value share one key. Undefined when every field is a
   * scalar, whose indexKey is itself (keyAt): an array per tuple less, a million of them in a
   * space of a million.
   */
  readonly keys: IndexKey[] | undefined;
  /** Encoded size, for limits and inspection. */
  readonly bytes: number;
  /** Lease end (ms since epoch); Infinity without a lease. */
  expiresAt: number;
  /** False once taken, cancelled or expired. */
  live: boolean;
  /**
   * True while the tuple is in its space's index. The index buckets drop their entries lazily,
   * so this one flag, not the bucket, says whether an entry still counts.
   */
  indexed: boolean;
  /** Its entry in the lease heap, moved by renewals and removed when the tuple ends; undefined when the heap holds none. */
  lease: Lease<StoredTuple> | undefined;
  /** Set when its writer waits for a taker (`out` with ack 'delivery' or 'processing'). */
  watched: boolean;
  /** Set once a put of it went to the store (persistent spaces): its end must delete it there. */
  stored: boolean;
}

/** The indexKey of field `i` of `t`. */
export function keyAt(t: StoredTuple, i: number): IndexKey {
  return t.keys === undefined ? indexKey(t.values[i]) : t.keys[i]!;
}

function isComposite(v: unknown): boolean {
  return typeof v === 'object' && v !== null;
}

/** A live tuple with its index keys and encoded size worked out, as written by `out` or read back from the store. */
export function storedTuple(
  seq: number, tid: string, space: string, values: unknown[], expiresAt: number, bytes = packr.pack(values).length, hdr?: Headers,
): StoredTuple {
  return {
    seq, tid, space, values, hdr, bytes, live: true, keys: values.some(isComposite) ? values.map(indexKey) : undefined, expiresAt,
    indexed: false, lease: undefined, watched: false, stored: false,
  };
}
