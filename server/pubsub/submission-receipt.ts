import { packr, type Codec, type Piece } from '../../protocol/codec.js';
import { strLength, uintLength, writeStr, writeUint } from '../../protocol/frame-writer.js';
import type { ReceiptFrame, ReceiverRef } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';

/**
 * Submission receipts are one per acknowledged publish, so the common one (nothing dropped) is
 * encoded from a cached tail: packing the whole object with msgpackr was ~40% of the broker's
 * work per persistent publish. Only `re` and `mid` differ between receipts of one route.
 */
const T_RE = mapBody(packr.pack({ t: 'receipt', re: 0 })).body.slice(0, -1); // "t":"receipt","re": without the value
const MID_KEY = Uint8Array.from(packr.pack('mid'));
const MAX_TAILS = 4_096;

interface Tail { entries: number; msgpack: Uint8Array; json: string }
/** Tails by receivers, without queues and per queue list (the durable core hands out one array per route). */
const plainTails = new Map<number, Tail>();
const queueTails = new WeakMap<readonly string[], Map<number, Tail>>();

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
  if (dropped || !conn.outbound.isEmpty) conn.sendFrame(submissionReceipt(re, mid, receivers, dropped ?? [], queues && [...queues]));
  else conn.send(encodeSubmissionReceipt(conn.codec, re, mid, receivers, queues));
}

/** The encoded receipt of a submission that dropped nothing. */
export function encodeSubmissionReceipt(codec: Codec, re: number, mid: string, receivers: number, queues?: readonly string[]): Piece {
  let byReceivers = plainTails;
  if (queues) {
    byReceivers = queueTails.get(queues) ?? new Map();
    queueTails.set(queues, byReceivers);
  }
  let tail = byReceivers.get(receivers);
  if (!tail) {
    const rest = submissionReceipt(0, '', receivers, [], queues ? [...queues] : undefined) as unknown as Record<string, unknown>;
    delete rest.t;
    delete rest.re;
    delete rest.mid;
    if (byReceivers.size >= MAX_TAILS) byReceivers.clear();
    const { entries, body } = mapBody(packr.pack(rest));
    byReceivers.set(receivers, (tail = { entries, msgpack: body, json: JSON.stringify(rest).slice(1) }));
  }
  if (codec.name === 'json') return `{"t":"receipt","re":${re},"mid":${JSON.stringify(mid)},${tail.json}`;
  const out = new Uint8Array(1 + T_RE.length + uintLength(re) + MID_KEY.length + strLength(mid) + tail.msgpack.length);
  out[0] = 0x80 | (3 + tail.entries); // t, re, mid and the tail's
  out.set(T_RE, 1);
  let p = writeUint(out, 1 + T_RE.length, re);
  out.set(MID_KEY, p);
  p = writeStr(out, p + MID_KEY.length, mid);
  out.set(tail.msgpack, p);
  return out.subarray(0, p + tail.msgpack.length);
}

/** The entries of an encoded map without its header (msgpackr writes map16 even for small maps), copied. */
function mapBody(packed: Uint8Array): { entries: number; body: Uint8Array } {
  const first = packed[0]!;
  if (first >= 0x80 && first <= 0x8f) return { entries: first & 0x0f, body: Uint8Array.from(packed.subarray(1)) };
  if (first === 0xde) return { entries: (packed[1]! << 8) | packed[2]!, body: Uint8Array.from(packed.subarray(3)) };
  throw new Error('expected a MessagePack map');
}
