import { packAroundData, Parts, type Piece } from './codec.js';
import type { Link } from './interceptor.js';
import { utf8Length } from './frame-writer.js';
import { StreamedParts } from './byte-stream.js';

interface Outgoing {
  fid: number;
  piece: Piece | Parts;
  /** Fragment boundaries: fragment i is piece[bounds[i]..bounds[i+1]). */
  bounds: number[];
  size: number;
  seq: number;
}

const NO_BYTES = new Uint8Array(0);

/** Fragments of a message whose bytes are still arriving (a broker forwarding a large `pub`). */
interface StreamedOutgoing extends Outgoing {
  piece: StreamedParts;
}

/**
 * Splits large messages into `frag` messages and feeds them to the link a few at a time.
 * Messages being sent take turns fragment by fragment, and no fragment is produced while the
 * connection has `highWaterBytes` queued: a small message sent meanwhile goes straight to the
 * socket and overtakes the rest of a large one (no head-of-line blocking), and a large message
 * never sits in memory twice over as fragments.
 */
export class FragmentSender {
  private readonly queue: Outgoing[] = [];
  private nextFid = 1;
  private waiting = false;
  private closed = false;
  /** Bytes of the queued whole messages not yet cut into fragments. */
  private wholeBytes = 0;
  /** Messages being forwarded as their bytes arrive: queued, or waiting for more. */
  private readonly streams = new Set<StreamedOutgoing>();

  constructor(private readonly link: Link, private readonly highWaterBytes: number) {}

  /** Messages being sent now. */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Bytes of the queued messages not yet cut into fragments. Of a message still arriving, only
   * what has arrived: the rest is not this connection's to send yet, and must not make it look
   * congested or stalled.
   */
  get queuedBytes(): number {
    let n = this.wholeBytes;
    for (const out of this.streams) n += out.piece.available - out.bounds[out.seq]!;
    return n;
  }

  send(piece: Piece | Parts, fragmentSize: number): void {
    const bounds = typeof piece === 'string' ? textBounds(piece, fragmentSize) : byteBounds(piece.length, fragmentSize);
    const size = typeof piece === 'string' ? utf8Length(piece) : piece.length;
    const fid = this.nextFid;
    this.nextFid = this.nextFid >= 0xffffffff ? 1 : this.nextFid + 1;
    const out: Outgoing = { fid, piece, bounds, size, seq: 0 };
    this.queue.push(out);
    if (piece instanceof StreamedParts) this.streams.add(out as StreamedOutgoing);
    else this.wholeBytes += piece.length;
    if (!this.waiting) this.pump();
  }

  close(): void {
    this.closed = true;
    this.queue.length = 0;
    this.wholeBytes = 0;
    for (const out of this.streams) out.piece.stream.release(out.piece.reader);
    this.streams.clear();
  }

  private readonly pump = (): void => {
    this.waiting = false;
    while (this.queue.length > 0 && !this.closed) {
      if (this.link.pendingBytes >= this.highWaterBytes) {
        this.waiting = true;
        this.link.whenDrained(this.pump);
        return;
      }
      const out = this.queue.shift()!;
      if (out.piece instanceof StreamedParts && !this.streamReady(out as StreamedOutgoing)) continue;
      const frame = this.fragment(out);
      // MessagePack: the fields, then the slice where it lies (the socket end writes it uncopied where it can).
      this.link.send(typeof frame.data === 'string' ? this.link.codec.encode(frame) : packAroundData(frame as { data: Uint8Array | Uint8Array[] }));
      if (out.seq < out.bounds.length - 1) this.queue.push(out);
      else if (this.streams.delete(out as StreamedOutgoing)) (out as StreamedOutgoing).piece.stream.release((out as StreamedOutgoing).piece.reader);
    }
  };

  /**
   * Whether the next fragment of a message still arriving can be cut now. If not, it waits for
   * more bytes apart from the queue; if its message was discarded upstream, a receiver that has
   * some of it is told to drop it (`abort`, protocol.md §2.3).
   */
  private streamReady(out: StreamedOutgoing): boolean {
    const stream = out.piece.stream;
    if (stream.failed) {
      this.streams.delete(out);
      stream.release(out.piece.reader);
      // As the last fragment, empty: a receiver that does not know `abort` drops the message at once too.
      const n = out.bounds.length - 1;
      if (out.seq > 0) this.link.send(this.link.codec.encode({ t: 'frag', fid: out.fid, seq: n - 1, n, data: NO_BYTES, abort: true }));
      return false;
    }
    if (out.piece.available >= out.bounds[out.seq + 1]!) return true;
    stream.whenMore(() => {
      if (this.closed) return;
      this.queue.push(out);
      if (!this.waiting) this.pump();
    });
    return false;
  }

  private fragment(out: Outgoing): Record<string, unknown> {
    const seq = out.seq++;
    const from = out.bounds[seq];
    const to = out.bounds[seq + 1];
    const { piece } = out;
    const data = typeof piece === 'string' ? piece.slice(from, to)
      : piece instanceof StreamedParts ? piece.pieces(from, to)
        : piece instanceof Parts ? piece.slice(from, to) : piece.subarray(from, to);
    if (!(piece instanceof StreamedParts)) this.wholeBytes -= to - from;
    const frame: Record<string, unknown> = { t: 'frag', fid: out.fid, seq, n: out.bounds.length - 1 };
    if (seq === 0) frame.size = out.size;
    frame.data = data;
    return frame;
  }
}

function byteBounds(length: number, size: number): number[] {
  const bounds: number[] = [];
  for (let at = 0; at < length; at += size) bounds.push(at);
  bounds.push(length);
  return bounds;
}

/**
 * JSON text is cut so that each slice, written as a JSON string inside its `frag` message
 * (quotes and escapes included), takes at most `size` UTF-8 bytes (protocol.md §2.3): the
 * frame then stays under the peer's maxFrameBytes however many characters need escaping.
 * Never inside a surrogate pair.
 */
export function textBounds(text: string, size: number): number[] {
  const budget = size - 2; // the quotes around the string
  const bounds: number[] = [0];
  let used = 0;
  for (let i = 0; i < text.length;) {
    const c = text.charCodeAt(i);
    const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && isLowSurrogate(text.charCodeAt(i + 1));
    const cost = pair ? 4 : escapedBytes(c);
    if (used + cost > budget) {
      bounds.push(i);
      used = 0;
    }
    used += cost;
    i += pair ? 2 : 1;
  }
  bounds.push(text.length);
  return bounds;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/** UTF-8 bytes of one UTF-16 unit as JSON.stringify writes it inside a string (not a surrogate pair). */
function escapedBytes(c: number): number {
  if (c < 0x20) return c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d ? 2 : 6;
  if (c === 0x22 || c === 0x5c) return 2;
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  if (c >= 0xd800 && c <= 0xdfff) return 6; // a lone surrogate is written as \uDXXX
  return 3;
}
