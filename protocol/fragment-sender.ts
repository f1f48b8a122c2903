import { Parts, type Piece } from './codec.js';
import type { Link } from './interceptor.js';
import { utf8Length } from './frame-writer.js';

interface Outgoing {
  fid: number;
  piece: Piece | Parts;
  /** Fragment boundaries: fragment i is piece[bounds[i]..bounds[i+1]). */
  bounds: number[];
  size: number;
  seq: number;
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
  /** Bytes of the queued messages not yet cut into fragments. */
  queuedBytes = 0;

  constructor(private readonly link: Link, private readonly highWaterBytes: number) {}

  /** Messages being sent now. */
  get pending(): number {
    return this.queue.length;
  }

  send(piece: Piece | Parts, fragmentSize: number): void {
    const bounds = typeof piece === 'string' ? textBounds(piece, fragmentSize) : byteBounds(piece.length, fragmentSize);
    const size = typeof piece === 'string' ? utf8Length(piece) : piece.length;
    const fid = this.nextFid;
    this.nextFid = this.nextFid >= 0xffffffff ? 1 : this.nextFid + 1;
    this.queue.push({ fid, piece, bounds, size, seq: 0 });
    this.queuedBytes += piece.length;
    if (!this.waiting) this.pump();
  }

  close(): void {
    this.closed = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
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
      this.link.send(this.link.codec.encode(this.fragment(out)));
      if (out.seq < out.bounds.length - 1) this.queue.push(out);
    }
  };

  private fragment(out: Outgoing): object {
    const seq = out.seq++;
    const from = out.bounds[seq];
    const to = out.bounds[seq + 1];
    const { piece } = out;
    const data = typeof piece === 'string' ? piece.slice(from, to) : piece instanceof Parts ? piece.slice(from, to) : piece.subarray(from, to);
    this.queuedBytes -= to - from;
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
 * JSON text is cut every size/3 UTF-16 units, which keeps each fragment within `size` UTF-8
 * bytes even after JSON escaping; never inside a surrogate pair.
 */
function textBounds(text: string, size: number): number[] {
  const step = Math.max(2, Math.floor(size / 3));
  const bounds: number[] = [];
  let at = 0;
  while (at < text.length) {
    bounds.push(at);
    let next = Math.min(text.length, at + step);
    const last = text.charCodeAt(next - 1);
    if (next < text.length && last >= 0xd800 && last <= 0xdbff) next--;
    at = next;
  }
  bounds.push(text.length);
  return bounds;
}
