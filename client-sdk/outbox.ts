import { Parts, type Codec, type Piece } from '../protocol/codec.js';
import { binHeaderLength, bytes, wholeFrame, type FrameWriter, type MsgpackFrameWriter } from '../protocol/frame-writer.js';

const PUB_HEAD = bytes(0x83, 0xa1, 0x74, 0xa3, 0x70, 0x75, 0x62, 0xa5, 0x74, 0x6f, 0x70, 0x69, 0x63); // {t:"pub", topic:
const DATA_KEY = bytes(0xa4, 0x64, 0x61, 0x74, 0x61);

/**
 * Messages waiting to be written, coalesced into frames per flush. Portable ones (publishes,
 * requests) survive a reconnect; connection-bound ones (rcv, ack, nack, ping) name delivery
 * tags or ids of one connection and are dropped with it.
 */
export class Outbox {
  private readonly writer: FrameWriter;
  private ids: number[] = [];
  private bound: Piece[] = [];
  /** Sent ahead of everything else: resubscriptions after a reconnect. */
  private first: Piece[] = [];
  /** Messages for the message-level interceptors (fragmentation), kept whole until a flush. */
  private large: { piece: Piece | Parts; portable: boolean }[] = [];
  private largeBytes = 0;
  /** Publishes and writes made while the broker drains, for the next connection (protocol.md §1.6). */
  private held: { piece: Piece | Parts; id: number | undefined; order: number }[] = [];
  private heldBytes = 0;
  /** Messages of at least this size are `large`; set from the interceptors after each handshake. */
  largeFrom = Infinity;

  constructor(private readonly codec: Codec, maxFrameBytes: number) {
    this.writer = codec.createWriter(maxFrameBytes);
  }

  /** Bytes of portable messages waiting. */
  get bytes(): number {
    return this.writer.bytes + this.largeBytes + this.heldBytes;
  }

  get isEmpty(): boolean {
    return this.writer.messages === 0 && this.bound.length === 0 && this.first.length === 0 && this.large.length === 0;
  }

  /** Queues a message to leave before everything already queued. */
  addFirst(piece: Piece, id: number): void {
    this.first.push(piece);
    this.ids.push(id);
  }

  add(whole: Piece | Parts, portable: boolean, id?: number): void {
    if (whole.length >= this.largeFrom) {
      this.large.push({ piece: whole, portable });
      this.largeBytes += whole.length;
      if (id !== undefined) this.ids.push(id);
      return;
    }
    // Parts (a large payload) that need not be fragmented on this connection go in one frame.
    const piece = whole instanceof Parts ? whole.join() : whole;
    if (!portable) {
      this.bound.push(piece);
      return;
    }
    this.writer.piece(piece);
    if (id !== undefined) this.ids.push(id);
  }

  /**
   * The hot path: a fire-and-forget MessagePack publish written without an intermediate object.
   * `bytesPayload`: `data` is bytes whose encoding on its own (a bin) goes straight into the
   * frame, inside the `data` bin, rather than packed apart and copied in.
   */
  publishMsgpack(topic: Uint8Array, data: Uint8Array, bytesPayload = false): void {
    const w = this.writer as MsgpackFrameWriter;
    const size = bytesPayload ? binHeaderLength(data.length) + data.length : data.length;
    w.begin(PUB_HEAD.length + topic.length + DATA_KEY.length + binHeaderLength(size) + size);
    w.raw(PUB_HEAD);
    w.raw(topic);
    w.raw(DATA_KEY);
    w.binHeader(size);
    if (bytesPayload) w.binHeader(data.length);
    w.raw(data);
  }

  /**
   * Keeps a portable message back until release(): it must not go to the connection of now.
   * `order` is its place among the others (a publish the broker refused comes back late, but
   * goes out before those made after it).
   */
  hold(piece: Piece | Parts, id: number | undefined, order: number): void {
    let i = this.held.length;
    while (i > 0 && this.held[i - 1]!.order > order) i--;
    this.held.splice(i, 0, { piece, id, order });
    this.heldBytes += piece.length;
  }

  /** Queues what was held, in order, behind what is queued already. */
  release(): void {
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    for (const { piece, id } of held) this.add(piece, true, id);
  }

  dropConnectionBound(): void {
    this.bound = [];
    this.first = [];
    this.large = this.large.filter((m) => m.portable);
    this.largeBytes = this.large.reduce((n, m) => n + m.piece.length, 0);
  }

  /** The socket took the frames of the last drain() whole: their buffer may serve the next frame (FrameWriter.recycle). */
  recycle(): void {
    this.writer.recycle?.();
  }

  /** Writes everything as frames, and large messages through `sendLarge`; returns the request ids that left. */
  drain(write: (frame: Uint8Array | string) => void, sendLarge: (piece: Piece | Parts) => void): number[] {
    if (this.first.length > 0) {
      const leading = this.codec.createWriter(Number.MAX_SAFE_INTEGER);
      for (const piece of this.first) leading.piece(piece);
      this.first = [];
      for (const frame of leading.take()) write(wholeFrame(frame));
    }
    for (const piece of this.bound) this.writer.piece(piece);
    this.bound = [];
    for (const frame of this.writer.take()) write(wholeFrame(frame)); // never in pieces: only piece() and publishMsgpack() fill it
    if (this.large.length > 0) {
      const large = this.large;
      this.large = [];
      this.largeBytes = 0;
      for (const m of large) sendLarge(m.piece);
    }
    const ids = this.ids;
    this.ids = [];
    return ids;
  }
}
