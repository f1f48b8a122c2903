/**
 * Tuples and templates as a connection's frames carry them, and back: a JSON connection's
 * values are converted (`{"$bin"}` and bytes, protocol.md §3.2), a MessagePack one's are as
 * decoded; on the way in every value is checked against the space's limits.
 */
import { LindenError } from '../../protocol/errors.js';
import type { TupleEntry } from '../../protocol/frames.js';
import { fromJsonValue, toJsonValue } from '../../protocol/json-data.js';
import type { Connection } from '../connection.js';
import type { StoredTuple } from './stored-tuple.js';
import { compileTemplate, validateTuple, type Template, type TupleLimits } from './template.js';
import { packValues } from './tuple-frame.js';

/** Arrays and maps nested in a tuple or template, counting it (protocol.md §10.4). */
export const NESTING_LIMIT = 32;

/**
 * A tuple's values as they arrived, checked; with their MessagePack encoding as a `tuple` answer
 * carries them (an `in` waiting for it gets these bytes) and its length.
 */
export function inboundTuple(conn: Connection, wire: unknown[], maxArity: number): { values: unknown[]; packed: Uint8Array; bytes: number } {
  const values = inbound(conn, wire) as unknown[];
  validateTuple(values, tupleLimits(maxArity));
  // Wide integers as int64 take the 9 bytes a float64 would: the length is the plain encoding's.
  const packed = packValues(values);
  const bytes = packed.length;
  const limit = conn.maxMessageBytes;
  if (bytes > limit) {
    throw new LindenError('MESSAGE_TOO_LARGE', `tuple of ${bytes} bytes exceeds maxMessageBytes (${limit})`, { bytes, limit });
  }
  return { values, packed, bytes };
}

let lastLimits: TupleLimits = { maxArity: 0, maxDepth: NESTING_LIMIT };

/** The limits of a tuple, one object per maxArity in use (a broker has one): none made per out. */
function tupleLimits(maxArity: number): TupleLimits {
  if (lastLimits.maxArity !== maxArity) lastLimits = { maxArity, maxDepth: NESTING_LIMIT };
  return lastLimits;
}

export function inboundTemplate(conn: Connection, wire: unknown[], maxArity: number): Template {
  return compileInbound(inbound(conn, wire), maxArity);
}

/** A template already in MessagePack-native values (inbound()), compiled under the space's limits. */
export function compileInbound(values: unknown, maxArity: number): Template {
  return compileTemplate(values, { maxArity, maxDepth: NESTING_LIMIT });
}

/** A tuple as a tuple entry of `tuple`, `tuples` or `batched`, in the connection's codec. */
export function tupleEntry(conn: Connection, t: StoredTuple): TupleEntry {
  const entry: TupleEntry = { tid: t.tid, tuple: outbound(conn, t.values), expiresAt: finite(t.expiresAt) };
  if (t.hdr !== undefined) entry.hdr = t.hdr;
  return entry;
}

export function outbound(conn: Connection, values: unknown[]): unknown[] {
  return conn.codec.name === 'json' ? (toJsonValue(values) as unknown[]) : values;
}

/** A lease end on the wire: null for none. */
export function finite(ms: number): number | null {
  return Number.isFinite(ms) ? ms : null;
}

/** A tuple or template as the connection sent it, in MessagePack-native values. */
export function inbound(conn: Connection, wire: unknown): unknown {
  // One level past the limit: a `{"$bin"}` there is binary, as on MessagePack; anything deeper
  // sits in a container the checks refuse, so converting it would only risk the stack.
  return conn.codec.name === 'json' ? fromJsonValue(wire, NESTING_LIMIT + 1) : wire;
}
