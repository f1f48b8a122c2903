import { packr } from '../../protocol/codec.js';
import { bytes, strLength, uintLength, writeBytes, writeStr, writeUint, writeWide } from '../../protocol/frame-writer.js';
import { withWideIntegers } from '../../protocol/wide-integers.js';
import type { Headers } from '../../protocol/headers.js';
import type { StoredTuple } from './stored-tuple.js';

const T_TUPLE = bytes(0xa1, 0x74, 0xa5, 0x74, 0x75, 0x70, 0x6c, 0x65); // "t": "tuple"
const RE_KEY = bytes(0xa2, 0x72, 0x65);
const TID_KEY = bytes(0xa3, 0x74, 0x69, 0x64);
const TUPLE_KEY = bytes(0xa5, 0x74, 0x75, 0x70, 0x6c, 0x65);
const EXPIRES_KEY = bytes(0xa9, 0x65, 0x78, 0x70, 0x69, 0x72, 0x65, 0x73, 0x41, 0x74);
const HDR_KEY = bytes(0xa3, 0x68, 0x64, 0x72);
const RID_KEY = bytes(0xa3, 0x72, 0x69, 0x64);
const NIL = 0xc0;

/** The values of a tuple as the `tuple` field carries them: wide integers as int64 (wide-integers.ts). */
export function packValues(values: unknown[]): Uint8Array {
  return packr.pack(withWideIntegers(values));
}

/**
 * The `tuple` answer to an `in`/`rd` that found one, in MessagePack, written by hand: the same
 * map, field for field, that encoding `{ t: 'tuple', re, ...tupleEntry(conn, t), rid }` gives,
 * without the object, its spread and msgpackr's walk of the keys (issue 14: out -> in pairs).
 * `values` is packValues(t.values), which a hand-over has from measuring the tuple; `hdr` is
 * packHeaders(t.hdr).
 */
export function tupleFrameSize(re: number, t: StoredTuple, values: Uint8Array, rid: string | undefined, hdr: Uint8Array | undefined): number {
  return 1 + T_TUPLE.length + RE_KEY.length + uintLength(re) + TID_KEY.length + strLength(t.tid)
    + TUPLE_KEY.length + values.length + EXPIRES_KEY.length + 9
    + (hdr === undefined ? 0 : HDR_KEY.length + hdr.length) + (rid === undefined ? 0 : RID_KEY.length + strLength(rid));
}

/** Writes the answer at `p` in `out`, which has tupleFrameSize() bytes from there; returns the position after it. */
export function writeTupleFrame(
  out: Uint8Array, p: number, re: number, t: StoredTuple, values: Uint8Array, rid: string | undefined, hdr: Uint8Array | undefined,
): number {
  out[p++] = 0x80 | (5 + (hdr === undefined ? 0 : 1) + (rid === undefined ? 0 : 1));
  p = writeBytes(out, p, T_TUPLE);
  p = writeBytes(out, p, RE_KEY);
  p = writeUint(out, p, re);
  p = writeBytes(out, p, TID_KEY);
  p = writeStr(out, p, t.tid);
  p = writeBytes(out, p, TUPLE_KEY);
  p = writeBytes(out, p, values);
  p = writeBytes(out, p, EXPIRES_KEY);
  p = writeExpiry(out, p, t.expiresAt);
  if (hdr !== undefined) {
    p = writeBytes(out, p, HDR_KEY);
    p = writeBytes(out, p, hdr);
  }
  if (rid !== undefined) {
    p = writeBytes(out, p, RID_KEY);
    p = writeStr(out, p, rid);
  }
  return p;
}

/** A tuple's headers as the answer carries them; undefined without. */
export function packHeaders(hdr: Headers | undefined): Uint8Array | undefined {
  return hdr === undefined ? undefined : packr.pack(hdr);
}

/** The answer as a message of its own. */
export function packTupleFrame(re: number, t: StoredTuple, values: Uint8Array, rid: string | undefined, hdr = packHeaders(t.hdr)): Uint8Array {
  const out = new Uint8Array(tupleFrameSize(re, t, values, rid, hdr));
  return out.subarray(0, writeTupleFrame(out, 0, re, t, values, rid, hdr));
}

/** A lease end: nil for none, else as msgpackr writes withWideIntegers(ms) (9 bytes at most). */
function writeExpiry(out: Uint8Array, p: number, ms: number): number {
  if (!Number.isFinite(ms)) {
    out[p] = NIL;
    return p + 1;
  }
  // A lease end in ms is a safe integer: written here as msgpackr writes it (int64 past 32 bits).
  if (Number.isSafeInteger(ms) && ms >= 0) return ms <= 0xffffffff ? writeUint(out, p, ms) : writeWide(out, p, ms, 0xd3);
  const packed = packr.pack(withWideIntegers(ms));
  out.set(packed, p);
  return p + packed.length;
}
