import type { Codec, Piece } from '../protocol/codec.js';

/**
 * Messages waiting to be written, coalesced into one frame per flush. "Portable" ones (publishes)
 * survive a reconnect; the rest (acks, rcv) name delivery tags of one connection and are dropped with it.
 */
export class Outbox {
  private pieces: Piece[] = [];
  private portable: boolean[] = [];
  private ids: (number | undefined)[] = [];
  bytes = 0;

  get size(): number {
    return this.pieces.length;
  }

  add(piece: Piece, portable: boolean, id?: number): void {
    this.pieces.push(piece);
    this.portable.push(portable);
    this.ids.push(id);
    this.bytes += piece.length;
  }

  /** Keeps only what may be sent on a new connection. */
  dropConnectionBound(): void {
    const keep = this.pieces.map((_, i) => i).filter((i) => this.portable[i]);
    this.pieces = keep.map((i) => this.pieces[i]!);
    this.ids = keep.map((i) => this.ids[i]);
    this.portable = keep.map(() => true);
    this.bytes = this.pieces.reduce((n, p) => n + p.length, 0);
  }

  /** Writes everything as frames of at most `maxFrameBytes`; returns the request ids that left. */
  drain(codec: Codec, maxFrameBytes: number, write: (frame: Uint8Array | string) => void): (number | undefined)[] {
    const { pieces, ids } = this;
    this.pieces = [];
    this.portable = [];
    this.ids = [];
    this.bytes = 0;
    let start = 0;
    let bytes = 0;
    for (let i = 0; i < pieces.length; i++) {
      const len = pieces[i]!.length;
      if (bytes > 0 && bytes + len > maxFrameBytes) {
        write(codec.join(pieces.slice(start, i), bytes));
        start = i;
        bytes = 0;
      }
      bytes += len;
    }
    if (pieces.length > 0) write(codec.join(start === 0 ? pieces : pieces.slice(start), bytes));
    return ids;
  }
}
