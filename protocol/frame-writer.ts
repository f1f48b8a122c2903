import type { Piece } from './codec.js';

/**
 * Builds outgoing frames in place: messages are written straight into the frame being filled,
 * which is sealed whenever the next message would take it over `maxFrameBytes`. This keeps the
 * hot path free of a buffer per message and of a copy when frames are joined.
 */
export interface FrameWriter {
  /** Messages waiting in the writer. */
  readonly messages: number;
  /** Bytes (MessagePack) or characters (JSON) waiting in the writer. */
  readonly bytes: number;
  /** Appends one encoded message. */
  piece(piece: Piece): void;
  /** The frames written so far; the writer starts empty again. */
  take(): OutgoingFrame[];
  /**
   * The socket has taken the frames of the last take() and holds no reference to them (its
   * buffered amount is 0 right after sending): the last one's buffer may serve another frame.
   */
  recycle?(): void;
}

/**
 * What a writer hands to the socket: a frame's bytes or text, or one message in pieces, sent as
 * one WebSocket message of several frames (continuation frames, RFC 6455 §5.4) so that a large
 * payload is written from where it lies instead of being copied behind the message's head.
 */
export type OutgoingFrame = Uint8Array | string | readonly Uint8Array[];

const HEADER = 5; // array32 header, written when the frame is sealed

/** Frames already full, waiting for take(); counts what they hold. */
class SealedFrames<F> {
  private frames: F[] = [];
  bytes = 0;
  messages = 0;

  push(frame: F, bytes: number, messages: number): void {
    // Most flushes take one frame: made to that size, where an empty array's first push
    // reserves 17 slots (~150 bytes per flush, issue 14).
    if (this.frames.length === 0) this.frames = [frame];
    else this.frames.push(frame);
    this.bytes += bytes;
    this.messages += messages;
  }

  take(): F[] {
    const out = this.frames;
    this.frames = [];
    this.bytes = 0;
    this.messages = 0;
    return out;
  }
}
const MIN_CAPACITY = 4096;

/**
 * Frame memory is written before it is read, so in Node it need not be zeroed: allocUnsafe
 * skips the memset a new Uint8Array does on every frame (3% of a draining queue's broker time).
 * Browsers have no Buffer.
 */
const NodeBuffer = (globalThis as { Buffer?: { allocUnsafe(size: number): Uint8Array } }).Buffer;
export const allocate: (size: number) => Uint8Array = NodeBuffer ? (size) => NodeBuffer.allocUnsafe(size) : (size) => new Uint8Array(size);
/** The buffer of a writer between frames, shared: nothing is written to it (begin() grows it first). */
const NO_BYTES = new Uint8Array(0);
/**
 * Frame buffers of MIN_CAPACITY bytes handed back by recycle(), for the next frame of any writer
 * in this process. Without it every frame of every connection got a buffer of its own, 4 KiB
 * outside the heap each (allocUnsafe does not pool that size): 8 KiB per request/reply in the
 * broker, enough to drive V8 into full collections by external-memory pressure (issue 14).
 * Shared and bounded, so no connection keeps a buffer while idle.
 */
const framePool: Uint8Array[] = [];
const FRAME_POOL_MAX = 64;
/** Messages of this many bytes or more are sent as frames of their own rather than copied into one. */
const ALONE_BYTES = 16 * 1024;

export class MsgpackFrameWriter implements FrameWriter {
  buf: Uint8Array;
  pos = HEADER;
  private count = 0;
  private readonly sealed = new SealedFrames<Uint8Array | readonly Uint8Array[]>();
  private capacity = MIN_CAPACITY;
  /** The buffer of the frame sealed last, which recycle() may give back to the pool. */
  private lastSealed: Uint8Array | undefined;

  constructor(private readonly maxFrameBytes: number) {
    this.buf = NO_BYTES;
  }

  get messages(): number {
    return this.sealed.messages + this.count;
  }

  get bytes(): number {
    return this.sealed.bytes + this.pos - HEADER;
  }

  /**
   * Makes room for a message of at most `size` bytes and counts it; the caller then writes it
   * at `pos` with the primitives below.
   */
  begin(size: number): void {
    // pos counts the widest array header, so a sealed frame never exceeds maxFrameBytes.
    if (this.count > 0 && this.pos + size > this.maxFrameBytes) this.seal();
    if (this.pos + size > this.buf.length) this.grow(this.pos + size);
    this.count++;
  }

  piece(piece: Piece): void {
    const bytes = piece as Uint8Array;
    if (bytes.length >= ALONE_BYTES) {
      // A large message (a fragment, mostly) leaves as a frame of its own, uncopied: a frame
      // may hold one message as well as an array of them.
      if (this.count > 0) this.seal();
      this.sealed.push(bytes, bytes.length, 1);
      return;
    }
    this.begin(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /**
   * One message in consecutive pieces (a fragment: its fields, then a slice of a payload), sent
   * as a message of its own when it takes ALONE_BYTES or more: pieces of that size as frames of
   * their own, uncopied; runs of smaller ones joined. A smaller message goes into the frame being
   * filled, like any other (protocol.md §2: only messages of 16 KiB or more travel bare).
   */
  pieces(pieces: readonly Uint8Array[]): void {
    let total = 0;
    for (const p of pieces) total += p.length;
    if (total < ALONE_BYTES) {
      this.begin(total);
      for (const p of pieces) this.raw(p);
      return;
    }
    if (this.count > 0) this.seal();
    const frames: Uint8Array[] = [];
    let run: Uint8Array[] = [];
    const endRun = (): void => {
      if (run.length > 0) frames.push(run.length === 1 ? run[0]! : joinBytes(run));
      run = [];
    };
    for (const p of pieces) {
      if (p.length >= ALONE_BYTES) {
        endRun();
        frames.push(p);
      } else {
        run.push(p);
      }
    }
    endRun();
    this.sealed.push(frames.length === 1 ? frames[0]! : frames, total, 1);
  }

  byte(b: number): void {
    this.buf[this.pos++] = b;
  }

  raw(bytes: Uint8Array): void {
    this.pos = writeBytes(this.buf, this.pos, bytes);
  }

  binHeader(n: number): void {
    this.pos = writeBinHeader(this.buf, this.pos, n);
  }

  uint(n: number): void {
    this.pos = writeUint(this.buf, this.pos, n);
  }

  /** A non-negative safe integer beyond 32 bits too (a time in ms): uint64 when it needs it, at most 9 bytes. */
  uint64(n: number): void {
    if (n <= 0xffffffff) {
      this.uint(n);
      return;
    }
    this.pos = writeWide(this.buf, this.pos, n, 0xcf);
  }

  take(): (Uint8Array | readonly Uint8Array[])[] {
    if (this.count > 0) this.seal();
    return this.sealed.take();
  }

  recycle(): void {
    const buf = this.lastSealed;
    this.lastSealed = undefined;
    if (buf !== undefined && buf.length === MIN_CAPACITY && framePool.length < FRAME_POOL_MAX) framePool.push(buf);
  }

  private seal(): void {
    const buf = this.buf;
    buf[0] = 0xdd;
    buf[1] = this.count >>> 24;
    buf[2] = (this.count >>> 16) & 0xff;
    buf[3] = (this.count >>> 8) & 0xff;
    buf[4] = this.count & 0xff;
    this.sealed.push(buf.subarray(0, this.pos), this.pos - HEADER, this.count);
    this.lastSealed = buf;
    // The next frame starts at the size this one reached: steady streams allocate once per frame.
    this.capacity = Math.max(MIN_CAPACITY, Math.min(this.pos, this.maxFrameBytes + HEADER));
    this.buf = NO_BYTES;
    this.pos = HEADER;
    this.count = 0;
  }

  private grow(needed: number): void {
    const size = Math.max(needed, this.capacity, this.buf.length * 2);
    const next = size === MIN_CAPACITY && framePool.length > 0 ? framePool.pop()! : allocate(size);
    if (this.pos > HEADER) next.set(this.buf.subarray(HEADER, this.pos), HEADER);
    this.buf = next;
  }
}

export class JsonFrameWriter implements FrameWriter {
  private pieces: string[] = [];
  private length = 0;
  private readonly sealed = new SealedFrames<string>();

  constructor(private readonly maxFrameBytes: number) {}

  get messages(): number {
    return this.sealed.messages + this.pieces.length;
  }

  get bytes(): number {
    return this.sealed.bytes + this.length;
  }

  piece(piece: Piece): void {
    const text = piece as string;
    const bytes = utf8Length(text) + 1;
    // +1 for the closing bracket.
    if (this.pieces.length > 0 && this.length + bytes + 1 > this.maxFrameBytes) this.seal();
    this.pieces.push(text);
    this.length += bytes;
  }

  take(): string[] {
    if (this.pieces.length > 0) this.seal();
    return this.sealed.take();
  }

  private seal(): void {
    this.sealed.push('[' + this.pieces.join(',') + ']', this.length, this.pieces.length);
    this.pieces = [];
    this.length = 0;
  }
}

function joinBytes(pieces: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of pieces) n += p.length;
  const out = allocate(n);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A frame's bytes or text in one piece (the pieces of a message joined). */
export function wholeFrame(frame: OutgoingFrame): Uint8Array | string {
  return typeof frame === 'string' || frame instanceof Uint8Array ? frame : joinBytes(frame);
}

/** UTF-8 byte length of a string, without encoding it (frame limits are in bytes). */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff) { n += 2; i++; } // surrogate pair: 4 bytes for 2 units
    else n += 2;
  }
  return n;
}

/** Encoded size of an unsigned integer in MessagePack. */
export function uintLength(n: number): number {
  return n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

export function writeUint(out: Uint8Array, p: number, n: number): number {
  if (n < 0x80) { out[p] = n; return p + 1; }
  if (n < 0x100) { out[p] = 0xcc; out[p + 1] = n; return p + 2; }
  if (n < 0x10000) { out[p] = 0xcd; out[p + 1] = n >> 8; out[p + 2] = n & 0xff; return p + 3; }
  out[p] = 0xce; out[p + 1] = n >>> 24; out[p + 2] = (n >>> 16) & 0xff; out[p + 3] = (n >>> 8) & 0xff; out[p + 4] = n & 0xff;
  return p + 5;
}

/**
 * A non-negative safe integer beyond 32 bits as 9 bytes: `type` (0xcf uint64, or 0xd3 int64 as
 * msgpackr writes a BigInt), then 8 big-endian bytes.
 */
export function writeWide(out: Uint8Array, p: number, n: number, type: 0xcf | 0xd3): number {
  out[p++] = type;
  const high = Math.floor(n / 0x100000000);
  const low = n >>> 0;
  out[p++] = high >>> 24; out[p++] = (high >>> 16) & 0xff; out[p++] = (high >>> 8) & 0xff; out[p++] = high & 0xff;
  out[p++] = low >>> 24; out[p++] = (low >>> 16) & 0xff; out[p++] = (low >>> 8) & 0xff; out[p++] = low & 0xff;
  return p;
}

const utf8 = new TextEncoder();

/** A MessagePack str (header and UTF-8 bytes). */
export function packStr(s: string): Uint8Array {
  const out = new Uint8Array(strLength(s));
  writeStr(out, 0, s);
  return out;
}

/** Encoded size of a MessagePack str; exact for ASCII, an upper bound otherwise. */
export function strLength(s: string): number {
  const n = isAscii(s) ? s.length : s.length * 3;
  return n + (n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5);
}

/** Writes a MessagePack str at `p`; returns the position after it. ASCII, the common case, skips TextEncoder. */
export function writeStr(out: Uint8Array, p: number, s: string): number {
  if (isAscii(s)) {
    const n = s.length;
    p = writeStrHeader(out, p, n);
    for (let i = 0; i < n; i++) out[p + i] = s.charCodeAt(i);
    return p + n;
  }
  const bytes = utf8.encode(s);
  p = writeStrHeader(out, p, bytes.length);
  out.set(bytes, p);
  return p + bytes.length;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Writes a MessagePack str header for `n` bytes at `p`; returns the position after it. */
export function writeStrHeader(out: Uint8Array, p: number, n: number): number {
  if (n < 32) { out[p] = 0xa0 | n; return p + 1; }
  if (n < 0x100) { out[p] = 0xd9; out[p + 1] = n; return p + 2; }
  if (n < 0x10000) { out[p] = 0xda; out[p + 1] = n >> 8; out[p + 2] = n & 0xff; return p + 3; }
  out[p] = 0xdb; out[p + 1] = n >>> 24; out[p + 2] = (n >>> 16) & 0xff; out[p + 3] = (n >>> 8) & 0xff; out[p + 4] = n & 0xff;
  return p + 5;
}

/** Encoded size of a MessagePack bin header for a payload of `n` bytes. */
export function binHeaderLength(n: number): number {
  return n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

/**
 * Copies `bytes` to `out` at `p`; returns the position after them. A short run (a map key, a
 * topic) is copied byte by byte: TypedArray.set costs a fixed ~50 ns that a loop of a few bytes
 * does not (and ~120 ns from a plain array, which is why the key constants are Uint8Arrays).
 */
export function writeBytes(out: Uint8Array, p: number, bytes: Uint8Array): number {
  const n = bytes.length;
  if (n > 24) out.set(bytes, p);
  else for (let i = 0; i < n; i++) out[p + i] = bytes[i]!;
  return p + n;
}

/** A constant run of MessagePack bytes, for writeBytes. */
export const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

/** Encoded size of a MessagePack array header for `n` items. */
export function arrayHeaderLength(n: number): number {
  return n < 16 ? 1 : n < 0x10000 ? 3 : 5;
}

/** Writes a MessagePack array header at `p`; returns the position after it. */
export function writeArrayHeader(out: Uint8Array, p: number, n: number): number {
  if (n < 16) { out[p] = 0x90 | n; return p + 1; }
  if (n < 0x10000) { out[p] = 0xdc; out[p + 1] = n >> 8; out[p + 2] = n & 0xff; return p + 3; }
  out[p] = 0xdd; out[p + 1] = n >>> 24; out[p + 2] = (n >>> 16) & 0xff; out[p + 3] = (n >>> 8) & 0xff; out[p + 4] = n & 0xff;
  return p + 5;
}

/** Writes a MessagePack bin header at `p`; returns the position after it. */
export function writeBinHeader(out: Uint8Array, p: number, n: number): number {
  if (n < 0x100) { out[p] = 0xc4; out[p + 1] = n; return p + 2; }
  if (n < 0x10000) { out[p] = 0xc5; out[p + 1] = n >> 8; out[p + 2] = n & 0xff; return p + 3; }
  out[p] = 0xc6; out[p + 1] = n >>> 24; out[p + 2] = (n >>> 16) & 0xff; out[p + 3] = (n >>> 8) & 0xff; out[p + 4] = n & 0xff;
  return p + 5;
}
