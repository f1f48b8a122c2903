import { packr, type Codec, type Piece } from '../../protocol/codec.js';
import { writeArrayHeader, writeStr, writeUint } from '../../protocol/frame-writer.js';
import type { ReceiptFrame, ReceiverRef } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';

/**
 * Submission receipts are one per acknowledged publish, so the common one (nothing dropped) is
 * encoded from a cached tail: packing the whole object with msgpackr was ~40% of the broker's
 * work per persistent publish. Only `re`, `mid` and the queues reached differ between them.
 */
const T_RE = mapBody(packr.pack({ t: 'receipt', re: 0 })).body.slice(0, -1); // "t":"receipt","re": without the value
const MID_KEY = Uint8Array.from(packr.pack('mid'));
const MAX_TAILS = 4_096;

interface Tail { entries: number; msgpack: Uint8Array; json: string }
/**
 * Tails by receivers, without the queues: those are written per receipt. A tail per route (the
 * queues a topic reaches) cost some 350 bytes per durable queue (issue 21: many small queues).
 */
const tails = new Map<number, Tail>();
const QUEUES_KEY = Uint8Array.from(packr.pack('queues'));

/** The fields after `t`, `re` and `mid` of a receipt that dropped nothing, but for `queues`. */
function tailFor(receivers: number): Tail {
  let tail = tails.get(receivers);
  if (!tail) {
    const rest = submissionReceipt(0, '', receivers, []) as unknown as Record<string, unknown>;
    delete rest.t;
    delete rest.re;
    delete rest.mid;
    if (tails.size >= MAX_TAILS) tails.clear();
    const { entries, body } = mapBody(packr.pack(rest));
    tails.set(receivers, (tail = { entries, msgpack: body, json: JSON.stringify(rest).slice(1, -1) }));
  }
  return tail;
}

export function submissionReceipt(re: number, mid: string, receivers: number, dropped: ReceiverRef[], queues?: string[]): ReceiptFrame {
  const receipt: ReceiptFrame = {
    t: 'receipt', re, mid, stage: 'submission', receivers, delivered: 0, processed: 0, failed: 0, dropped: dropped.length,
    timedOut: false, missing: dropped, rejected: [],
  };
  if (queues) receipt.queues = queues;
  return receipt;
}

/**
 * Sends the receipt of a submission. The common one (nothing dropped) goes out from the cached
 * encoding, but only to a connection without outbound hooks: with them it is a frame like every
 * other reply, so the hooks see it and it cannot overtake a reply an async hook still holds.
 */
export function sendSubmissionReceipt(
  conn: Connection, re: number, mid: string, receivers: number, dropped?: ReceiverRef[], queues?: readonly string[],
): void {
  if (dropped || !conn.outbound.isEmpty) {
    conn.sendFrame(submissionReceipt(re, mid, receivers, dropped ?? [], queues && [...queues]));
    return;
  }
  const tail = tailFor(receivers);
  // MessagePack: straight into the frame being filled, without a buffer of its own (one per
  // persistent publish: 0.8 us each, allocation and copies).
  const w = conn.codec.name === 'msgpack' ? conn.frameToWrite(msgpackBound(mid, tail, queues)) : undefined;
  if (w) w.pos = writeMsgpack(w.buf, w.pos, re, mid, tail, queues);
  else conn.send(encodeSubmissionReceipt(conn.codec, re, mid, receivers, queues));
}

/** The encoded receipt of a submission that dropped nothing. */
export function encodeSubmissionReceipt(codec: Codec, re: number, mid: string, receivers: number, queues?: readonly string[]): Piece {
  const tail = tailFor(receivers);
  if (codec.name === 'json') {
    const named = queues ? `,"queues":${JSON.stringify(queues)}` : '';
    return `{"t":"receipt","re":${re},"mid":${JSON.stringify(mid)},${tail.json}${named}}`;
  }
  const out = new Uint8Array(msgpackBound(mid, tail, queues));
  return out.subarray(0, writeMsgpack(out, 0, re, mid, tail, queues));
}

/** At most the bytes of the receipt in MessagePack. */
function msgpackBound(mid: string, tail: Tail, queues: readonly string[] | undefined): number {
  let size = 1 + T_RE.length + 5 + MID_KEY.length + 5 + mid.length * 3 + tail.msgpack.length;
  if (queues) {
    size += QUEUES_KEY.length + 5;
    for (const q of queues) size += 5 + q.length * 3;
  }
  return size;
}

/** Writes the receipt at `p` (room for msgpackBound()); returns where it ends. */
function writeMsgpack(out: Uint8Array, p: number, re: number, mid: string, tail: Tail, queues: readonly string[] | undefined): number {
  out[p] = 0x80 | (3 + tail.entries + (queues ? 1 : 0)); // t, re, mid, the tail's and queues
  out.set(T_RE, p + 1);
  p = writeUint(out, p + 1 + T_RE.length, re);
  out.set(MID_KEY, p);
  p = writeStr(out, p + MID_KEY.length, mid);
  out.set(tail.msgpack, p);
  p += tail.msgpack.length;
  if (queues) {
    out.set(QUEUES_KEY, p);
    p = writeArrayHeader(out, p + QUEUES_KEY.length, queues.length);
    for (const q of queues) p = writeStr(out, p, q);
  }
  return p;
}

/** The entries of an encoded map without its header (msgpackr writes map16 even for small maps), copied. */
function mapBody(packed: Uint8Array): { entries: number; body: Uint8Array } {
  const first = packed[0]!;
  if (first >= 0x80 && first <= 0x8f) return { entries: first & 0x0f, body: Uint8Array.from(packed.subarray(1)) };
  if (first === 0xde) return { entries: (packed[1]! << 8) | packed[2]!, body: Uint8Array.from(packed.subarray(3)) };
  throw new Error('expected a MessagePack map');
}
