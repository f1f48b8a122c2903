import type { Key, KeyPart } from './store.js';

/**
 * The key rules and the key order every Store keeps, so MemoryStore and LmdbStore agree on what
 * a scan returns. The order is the one LMDB's key encoding (ordered-binary) gives byte by byte:
 * element by element; numbers before strings; numbers by value; strings by code point (UTF-8
 * byte order, which differs from UTF-16 code unit order only for characters above U+FFFF
 * against U+E000..U+FFFF); a key before every longer key it is a prefix of.
 */

/** LMDB's default maximum key size (lmdb-js opens environments with it). */
export const MAX_KEY_BYTES = 1978;

/**
 * ordered-binary escapes U+0000..U+0004 only in strings under 64 characters and writes longer
 * ones raw, where U+0000 reads back as the element separator; lone surrogates are written
 * differently by the two paths too. Keys are names and ids, so refusing these costs nothing.
 */
const UNSAFE_STRING = /[\u0000-\u0004]|\p{Cs}/u;
/** A number inside an array key always takes 9 bytes in ordered-binary. */
const NUMBER_BYTES = 9;

/** Throws a RangeError unless `key` is a non-empty array of finite numbers and safe strings within MAX_KEY_BYTES. */
export function assertKey(key: Key): void {
  if (!Array.isArray(key) || key.length === 0) throw new RangeError('a store key is a non-empty array');
  let roughBytes = key.length - 1;
  for (const part of key as KeyPart[]) {
    if (typeof part === 'number') {
      if (!Number.isFinite(part)) throw new RangeError(`store key ${describe(key)}: numbers must be finite`);
      roughBytes += NUMBER_BYTES;
    } else if (typeof part === 'string') {
      if (UNSAFE_STRING.test(part)) throw new RangeError(`store key ${describe(key)}: strings must not hold U+0000..U+0004 or lone surrogates`);
      roughBytes += 3 * part.length + 1;
    } else {
      throw new RangeError(`store key ${describe(key)}: parts are strings or numbers`);
    }
  }
  // Most keys are far below the limit: count exactly only when the rough bound says it might matter.
  if (roughBytes > MAX_KEY_BYTES && encodedLength(key) > MAX_KEY_BYTES) {
    throw new RangeError(`store key ${describe(key)} takes more than ${MAX_KEY_BYTES} bytes`);
  }
}

/** The size of a valid key in LMDB: a leading escape byte for strings that start below U+001C (or are empty). */
function encodedLength(key: Key): number {
  let bytes = key.length - 1;
  for (const part of key) {
    if (typeof part === 'number') bytes += NUMBER_BYTES;
    else bytes += Buffer.byteLength(part, 'utf8') + (part.length === 0 || part.charCodeAt(0) < 28 ? 1 : 0);
  }
  return bytes;
}

export function compareKeys(a: Key, b: Key): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = comparePart(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

export function startsWith(key: Key, prefix: Key): boolean {
  if (key.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}

function comparePart(a: KeyPart, b: KeyPart): number {
  if (typeof a === 'number') return typeof b === 'number' ? (a < b ? -1 : a > b ? 1 : 0) : -1;
  if (typeof b === 'number') return 1;
  return compareStrings(a, b);
}

function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (U+D800..U+DFFF) stand for code points above U+FFFF: move them above U+E000..U+FFFF.
    if (x >= 0xd800 && y >= 0xd800) return codePointRank(x) - codePointRank(y);
    return x - y;
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}

function describe(key: unknown): string {
  try {
    return JSON.stringify(key).slice(0, 200);
  } catch {
    return String(key);
  }
}
