/*
 * A MessagePack decoder for the frames that carry the traffic (issue 14): `pub`, `rcv` and `ack`
 * from clients, `msg` and `receipt` from the broker. It reads a subset of MessagePack — maps
 * whose keys are field names of those messages, ASCII strings, non-negative integers up to
 * 32 bits, booleans, nil, bins, arrays and `hdr` maps — and builds the very objects msgpackr
 * builds from them (keys assigned in wire order, bins as subarrays of the frame). Anything
 * else, or anything malformed, gives FALLBACK: the caller then decodes the frame with msgpackr,
 * so unusual frames get exactly msgpackr's result or error. Validation is not its job.
 */

/** What decodeCommonFrame() returns for a frame it leaves to the generic decoder. */
export const FALLBACK: unique symbol = Symbol('fallback');
type Fallback = typeof FALLBACK;

/** Field names of the common messages (and of the receivers a receipt lists). Any other key: FALLBACK. */
const FIELDS = [
  't', 'id', 're', 'sid', 'tag', 'tags', 'ack', 'topic', 'data', 'mid', 'reply', 'mode', 'ttl', 'timeout', 'hdr', 'dc',
  'stage', 'receivers', 'delivered', 'processed', 'failed', 'dropped', 'timedOut', 'missing', 'rejected', 'queues', 'duplicate',
  'connection', 'group', 'queue', 'reason', 'retain', 'retained',
];
/** String values worth sharing rather than allocating: message types and enum values. */
const VALUES = ['pub', 'msg', 'rcv', 'ack', 'receipt', 'none', 'submission', 'delivery', 'processing', 'transient', 'persistent'];

interface Known { bytes: Uint8Array; text: string }
/** Known strings by length, for a byte comparison instead of a decode. */
function byLength(words: string[]): Known[][] {
  const table: Known[][] = [];
  for (const text of words) (table[text.length] ??= []).push({ bytes: Uint8Array.from(text, (c) => c.charCodeAt(0)), text });
  return table;
}
const FIELD_TABLE = byLength(FIELDS);
const VALUE_TABLE = byLength(VALUES);

/** Deeper than any common message (a receipt's receivers are at depth 3). */
const MAX_DEPTH = 4;

const NodeBuffer = (globalThis as { Buffer?: { prototype: { latin1Slice?: (this: Uint8Array, start: number, end: number) => string } } }).Buffer;
const latin1Slice = NodeBuffer?.prototype.latin1Slice;
const textDecoder = new TextDecoder();

// The frame being read; decoding is synchronous, so one set of cursors serves every call.
let buf: Uint8Array = new Uint8Array(0);
let pos = 0;
let end = 0;

// The last topic read, kept as bytes: a stream of publishes or deliveries on one topic reuses its string.
const lastTopicBytes = new Uint8Array(64);
let lastTopicLength = -1;
let lastTopic = '';

/** The messages of `raw`, or FALLBACK when it is not made of the common shapes only. */
export function decodeCommonFrame(raw: Uint8Array): unknown[] | Fallback {
  buf = raw;
  pos = 0;
  end = raw.length;
  try {
    const decoded = value(0, false, false);
    if (decoded === FALLBACK || pos !== end) return FALLBACK;
    return Array.isArray(decoded) ? decoded : [decoded];
  } finally {
    buf = NO_BYTES;
  }
}
const NO_BYTES = new Uint8Array(0);

function value(depth: number, isHeaders: boolean, isTopic: boolean): unknown {
  if (pos >= end) return FALLBACK;
  const b = buf[pos++]!;
  if (b < 0x80) return b;
  if (b >= 0xa0 && b <= 0xbf) return str(b & 0x1f, isTopic);
  if (b < 0x90) return isHeaders ? headers(b & 0x0f) : map(b & 0x0f, depth);
  if (b < 0xa0) return array(b & 0x0f, depth);
  switch (b) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xc4: case 0xc5: case 0xc6: {
      const n = length(b - 0xc4);
      if (n < 0 || pos + n > end) return FALLBACK;
      return buf.subarray(pos, (pos += n));
    }
    case 0xcc: return pos + 1 <= end ? buf[pos++]! : FALLBACK;
    case 0xcd: return pos + 2 <= end ? length(1) : FALLBACK;
    case 0xce: return pos + 4 <= end ? length(2) : FALLBACK;
    case 0xd9: case 0xda: case 0xdb: {
      const n = length(b - 0xd9);
      return n < 0 ? FALLBACK : str(n, isTopic);
    }
    case 0xdc: case 0xdd: {
      const n = length(b - 0xdb);
      return n < 0 ? FALLBACK : array(n, depth);
    }
    case 0xde: {
      const n = length(1);
      if (n < 0) return FALLBACK;
      return isHeaders ? headers(n) : map(n, depth);
    }
    default: return FALLBACK;
  }
}

/** A big-endian length of 1, 2 or 4 bytes (`size` 0, 1, 2) at pos; -1 past the end. */
function length(size: number): number {
  if (size === 0) return pos + 1 <= end ? buf[pos++]! : -1;
  if (size === 1) {
    if (pos + 2 > end) return -1;
    const n = (buf[pos]! << 8) | buf[pos + 1]!;
    pos += 2;
    return n;
  }
  if (pos + 4 > end) return -1;
  const n = buf[pos]! * 0x1000000 + ((buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!);
  pos += 4;
  return n;
}

function map(n: number, depth: number): unknown {
  if (depth >= MAX_DEPTH) return FALLBACK;
  const object: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const key = fieldName();
    if (key === undefined) return FALLBACK;
    const v = value(depth + 1, key === 'hdr', key === 'topic');
    if (v === FALLBACK) return FALLBACK;
    object[key] = v;
  }
  return object;
}

function array(n: number, depth: number): unknown {
  if (depth >= MAX_DEPTH || n > end - pos) return FALLBACK;
  const out = new Array<unknown>(n);
  for (let i = 0; i < n; i++) {
    const v = value(depth + 1, false, false);
    if (v === FALLBACK) return FALLBACK;
    out[i] = v;
  }
  return out;
}

/** `hdr`: any names, so each is decoded; `__proto__`, which msgpackr renames, is left to it. */
function headers(n: number): unknown {
  const object: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const key = value(MAX_DEPTH, false, false);
    if (typeof key !== 'string' || key === '__proto__') return FALLBACK;
    const v = value(MAX_DEPTH, false, false);
    if (typeof v !== 'string') return FALLBACK;
    object[key] = v;
  }
  return object;
}

/** A map key that is a known field name; undefined for anything else. */
function fieldName(): string | undefined {
  if (pos >= end) return undefined;
  const b = buf[pos]!;
  if (b < 0xa0 || b > 0xbf) return undefined;
  const n = b & 0x1f;
  if (pos + 1 + n > end) return undefined;
  const text = known(FIELD_TABLE, pos + 1, n);
  if (text !== undefined) pos += 1 + n;
  return text;
}

function known(table: Known[][], p: number, n: number): string | undefined {
  const list = table[n];
  if (list === undefined) return undefined;
  next: for (let k = 0; k < list.length; k++) {
    const candidate = list[k]!;
    for (let i = 0; i < n; i++) if (buf[p + i] !== candidate.bytes[i]) continue next;
    return candidate.text;
  }
  return undefined;
}

/**
 * An ASCII string of `n` bytes at pos. Anything else is left to msgpackr, whose handling of
 * non-ASCII and malformed UTF-8 this need not copy.
 */
function str(n: number, isTopic: boolean): string | Fallback {
  if (pos + n > end) return FALLBACK;
  const start = pos;
  for (let i = start; i < start + n; i++) if (buf[i]! >= 0x80) return FALLBACK;
  pos += n;
  const shared = known(VALUE_TABLE, start, n);
  if (shared !== undefined) return shared;
  if (!isTopic || n > lastTopicBytes.length) return ascii(start, n);
  if (n === lastTopicLength && sameBytes(start, n)) return lastTopic;
  lastTopic = ascii(start, n);
  lastTopicBytes.set(buf.subarray(start, start + n));
  lastTopicLength = n;
  return lastTopic;
}

function sameBytes(p: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (buf[p + i] !== lastTopicBytes[i]) return false;
  return true;
}

/** Node's latin1Slice is the fastest for any length; elsewhere, short strings from their codes (a concatenation per character costs 2-4x). */
function ascii(p: number, n: number): string {
  if (latin1Slice) return latin1Slice.call(buf, p, p + n);
  if (n > 32) return textDecoder.decode(buf.subarray(p, p + n));
  const codes = new Array<number>(n);
  for (let i = 0; i < n; i++) codes[i] = buf[p + i]!;
  return String.fromCharCode.apply(null, codes);
}
