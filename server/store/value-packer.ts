import type { Packr } from 'msgpackr';
import { writeBinHeader, writeStrHeader, writeUint } from '../../protocol/frame-writer.js';

/** Room a chunk gives the values packed into it, side by side; a larger value gets a larger chunk. */
const CHUNK = 64 * 1024;
/** Deeper than a stored record nests (a queue record's config): left to msgpackr. */
const MAX_DEPTH = 3;
const OVERFLOW = -1;
const UNSUPPORTED = -2;

/**
 * Standard MessagePack for the values the store keeps, as msgpackr encodes them with the store's
 * settings (maps with string keys, integers up to 32 bits in their smallest format, other
 * numbers as float64, binaries as bin, undefined as nil), so msgpackr, or any decoder, reads back
 * the same value; only header sizes may differ (msgpackr gives every map a map16 header). It
 * skips msgpackr's generic walk: a persistent message's record and its queue's counters are
 * packed per publish, and msgpackr's pack was the largest part of the broker's work per
 * persistent publish after the commit itself. Other shapes (arrays, deeper nesting, bigints,
 * class instances) go to `fallback`.
 *
 * Packed values lie side by side in shared chunks, as msgpackr's do: each is a view that stays
 * valid after later packs, since a chunk is only ever written past its last value (a value that
 * did not fit is written again in a new chunk; what it left in the old one is past the last).
 */
export class ValuePacker {
  private chunk = Buffer.allocUnsafe(CHUNK);
  private view = new DataView(this.chunk.buffer, this.chunk.byteOffset, this.chunk.byteLength);
  private used = 0;

  constructor(private readonly fallback: Packr) {}

  pack(value: unknown): Buffer {
    const start = this.used;
    let end = this.write(value, start, 0);
    if (end === OVERFLOW) {
      // One walk writes and checks room as it goes; a value that does not fit starts a chunk it fits in.
      this.newChunk(CHUNK);
      end = this.write(value, 0, 0);
      while (end === OVERFLOW) {
        this.newChunk(this.chunk.length * 4);
        end = this.write(value, 0, 0);
      }
      return this.take(0, end);
    }
    if (end === UNSUPPORTED) return this.fallback.pack(value);
    return this.take(start, end);
  }

  private take(start: number, end: number): Buffer {
    this.used = end;
    return this.chunk.subarray(start, end);
  }

  private newChunk(size: number): void {
    this.chunk = Buffer.allocUnsafe(size);
    this.view = new DataView(this.chunk.buffer, this.chunk.byteOffset, this.chunk.byteLength);
    this.used = 0;
  }

  /** Writes `value` at `p` and returns where it ends, or OVERFLOW (no room left), or UNSUPPORTED (for msgpackr). */
  private write(value: unknown, p: number, depth: number): number {
    const out = this.chunk;
    // Room for any header or number; strings and binaries check for their bytes too.
    if (p + 9 > out.length) return OVERFLOW;
    switch (typeof value) {
      case 'number':
        return this.writeNumber(value, p);
      case 'string':
        return writeString(out, p, value);
      case 'boolean':
        out[p] = value ? 0xc3 : 0xc2;
        return p + 1;
      case 'undefined':
        out[p] = 0xc0;
        return p + 1;
      case 'object':
        break;
      default:
        return UNSUPPORTED;
    }
    if (value === null) {
      out[p] = 0xc0;
      return p + 1;
    }
    if (value instanceof Uint8Array) {
      const n = value.length;
      if (p + 5 + n > out.length) return OVERFLOW;
      p = writeBinHeader(out, p, n);
      out.set(value, p);
      return p + n;
    }
    if (value.constructor !== Object || depth === MAX_DEPTH) return UNSUPPORTED;
    const object = value as Record<string, unknown>;
    // The header's size depends on the count: fixmap for up to 15 entries, else rewritten as map32 below.
    const header = p;
    p += 1;
    let n = 0;
    for (const key in object) {
      n++;
      p = writeString(out, p, key);
      if (p < 0) return p;
      p = this.write(object[key], p, depth + 1);
      if (p < 0) return p;
    }
    if (n < 16) {
      out[header] = 0x80 | n;
      return p;
    }
    if (p + 4 > out.length) return OVERFLOW;
    out.copyWithin(header + 5, header + 1, p);
    out[header] = 0xdf;
    this.view.setUint32(header + 1, n);
    return p + 4;
  }

  private writeNumber(value: number, p: number): number {
    const out = this.chunk;
    if (value >>> 0 === value) return writeUint(out, p, value);
    if (value >> 0 === value) {
      if (value >= -0x20) { out[p] = 0x100 + value; return p + 1; }
      if (value >= -0x80) { out[p] = 0xd0; out[p + 1] = value + 0x100; return p + 2; }
      if (value >= -0x8000) { out[p] = 0xd1; this.view.setInt16(p + 1, value); return p + 3; }
      out[p] = 0xd2;
      this.view.setInt32(p + 1, value);
      return p + 5;
    }
    out[p] = 0xcb;
    this.view.setFloat64(p + 1, value);
    return p + 9;
  }
}

/** A str in its smallest header, or OVERFLOW; ASCII copied byte by byte, the rest through Buffer's UTF-8 encoder. */
function writeString(out: Buffer, p: number, s: string): number {
  const n = s.length;
  if (n < 32 && p + 1 + n <= out.length) {
    out[p] = 0xa0 | n;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) return writeUtf8(out, p, s);
      out[p + 1 + i] = c;
    }
    return p + 1 + n;
  }
  return writeUtf8(out, p, s);
}

function writeUtf8(out: Buffer, p: number, s: string): number {
  const bytes = Buffer.byteLength(s);
  if (p + 5 + bytes > out.length) return OVERFLOW;
  p = writeStrHeader(out, p, bytes);
  return p + out.write(s, p, bytes, 'utf8');
}
