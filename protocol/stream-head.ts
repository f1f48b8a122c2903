import type { Codec } from './codec.js';

/** The fields of a message whose payload comes last, read from its first fragment. */
export interface StreamHead {
  /** Every field but `data`, decoded. */
  fields: Record<string, unknown>;
  /** Where the payload's bytes begin in the message. */
  dataOffset: number;
  dataLength: number;
}

/** Nesting the fields before `data` may have; deeper is left to the whole-message decoder. */
const MAX_DEPTH = 8;
const DATA_KEY = [0xa4, 0x64, 0x61, 0x74, 0x61]; // "data" as a fixstr

/**
 * Reads the beginning of a MessagePack message (the first fragment's bytes): a map whose last
 * entry is `data`, a bin whose header lies within `bytes`. Undefined for anything else: such a
 * message is put back together whole, as before (issue 14).
 */
export function readStreamHead(bytes: Uint8Array, codec: Codec): StreamHead | undefined {
  const map = mapHeader(bytes);
  if (!map || map.entries < 2) return undefined;
  let p = map.length;
  for (let i = 0; i < map.entries; i++) {
    if (isDataKey(bytes, p)) {
      if (i !== map.entries - 1) return undefined;
      const bin = binHeader(bytes, p + DATA_KEY.length);
      if (!bin) return undefined;
      const fields = decodeFields(bytes, map.length, p, i, codec);
      if (!fields || 'data' in fields) return undefined;
      return { fields, dataOffset: p + DATA_KEY.length + bin.length, dataLength: bin.size };
    }
    const afterKey = skip(bytes, p, 0);
    const afterValue = afterKey === -1 ? -1 : skip(bytes, afterKey, 0);
    if (afterValue === -1) return undefined;
    p = afterValue;
  }
  return undefined;
}

/** The entries [from, to) as their own map of `count` entries, decoded as any message is. */
function decodeFields(bytes: Uint8Array, from: number, to: number, count: number, codec: Codec): Record<string, unknown> | undefined {
  if (count > 15) return undefined; // a fixmap holds them; a pub has fewer fields than that
  const own = new Uint8Array(1 + to - from);
  own[0] = 0x80 | count;
  own.set(bytes.subarray(from, to), 1);
  try {
    const [message, ...rest] = codec.decode(own, true);
    if (rest.length > 0 || message === null || typeof message !== 'object' || Array.isArray(message)) return undefined;
    return message as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function isDataKey(b: Uint8Array, p: number): boolean {
  for (let i = 0; i < DATA_KEY.length; i++) if (b[p + i] !== DATA_KEY[i]) return false;
  return true;
}

function mapHeader(b: Uint8Array): { entries: number; length: number } | undefined {
  const t = b[0];
  if (t === undefined) return undefined;
  if (t >= 0x80 && t <= 0x8f) return { entries: t & 0x0f, length: 1 };
  if (t === 0xde && b.length >= 3) return { entries: (b[1]! << 8) | b[2]!, length: 3 };
  return undefined;
}

function binHeader(b: Uint8Array, p: number): { size: number; length: number } | undefined {
  const t = b[p];
  if (t === 0xc4 && p + 2 <= b.length) return { size: b[p + 1]!, length: 2 };
  if (t === 0xc5 && p + 3 <= b.length) return { size: (b[p + 1]! << 8) | b[p + 2]!, length: 3 };
  if (t === 0xc6 && p + 5 <= b.length) return { size: ((b[p + 1]! << 24) >>> 0) + ((b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!), length: 5 };
  return undefined;
}

/** Position after the value at `p`, or -1 when it does not end within `b` (or nests too deep). */
function skip(b: Uint8Array, p: number, depth: number): number {
  if (p >= b.length || depth > MAX_DEPTH) return -1;
  const t = b[p]!;
  if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) return p + 1;
  if (t >= 0xa0 && t <= 0xbf) return within(b, p + 1 + (t & 0x1f));
  if (t >= 0x80 && t <= 0x8f) return items(b, p + 1, 2 * (t & 0x0f), depth);
  if (t >= 0x90 && t <= 0x9f) return items(b, p + 1, t & 0x0f, depth);
  switch (t) {
    case 0xcc: case 0xd0: return within(b, p + 2);
    case 0xcd: case 0xd1: return within(b, p + 3);
    case 0xca: case 0xce: case 0xd2: return within(b, p + 5);
    case 0xcb: case 0xcf: case 0xd3: return within(b, p + 9);
    case 0xc4: case 0xd9: return p + 1 < b.length ? within(b, p + 2 + b[p + 1]!) : -1;
    case 0xc5: case 0xda: return p + 2 < b.length ? within(b, p + 3 + u16(b, p + 1)) : -1;
    case 0xc6: case 0xdb: return p + 4 < b.length ? within(b, p + 5 + u32(b, p + 1)) : -1;
    case 0xdc: return p + 2 < b.length ? items(b, p + 3, u16(b, p + 1), depth) : -1;
    case 0xde: return p + 2 < b.length ? items(b, p + 3, 2 * u16(b, p + 1), depth) : -1;
    default: return -1; // extensions, 32-bit counts and 0xc1: the whole-message decoder judges them
  }
}

function items(b: Uint8Array, p: number, count: number, depth: number): number {
  for (let i = 0; i < count && p !== -1; i++) p = skip(b, p, depth + 1);
  return p;
}

function within(b: Uint8Array, end: number): number {
  return end <= b.length ? end : -1;
}

function u16(b: Uint8Array, p: number): number {
  return (b[p]! << 8) | b[p + 1]!;
}

function u32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) >>> 0) + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
}
