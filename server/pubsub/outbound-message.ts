import type { Codec } from '../../protocol/codec.js';
import { packStr, strLength, writeBinHeader, writeStr, type FrameWriter, type MsgpackFrameWriter } from '../../protocol/frame-writer.js';
import type { Payload } from './payload.js';

export interface DeliveryExtras {
  tag?: number;
  ack?: 'delivery' | 'processing';
  reply?: boolean;
  /** Delivery count of a durable delivery. */
  dc?: number;
}

const SID_KEY = [0xa3, 0x73, 0x69, 0x64];
const TAG_KEY = [0xa3, 0x74, 0x61, 0x67];
const ACK_KEY = [0xa3, 0x61, 0x63, 0x6b];
const REPLY_KEY = [0xa5, 0x72, 0x65, 0x70, 0x6c, 0x79];
const DC_KEY = [0xa2, 0x64, 0x63];
const TRUE = 0xc3;
const ACK_VALUE = { delivery: packStr('delivery'), processing: packStr('processing') };
const T_MSG = [0xa1, 0x74, 0xa3, 0x6d, 0x73, 0x67]; // "t": "msg"
const TOPIC_KEY = [0xa5, 0x74, 0x6f, 0x70, 0x69, 0x63];
const MID_KEY = [0xa3, 0x6d, 0x69, 0x64];
const DATA_KEY = [0xa4, 0x64, 0x61, 0x74, 0x61];
const TAIL_ENTRIES = 4; // t, topic, mid, data
const MAX_HEAD = 1 + 4 + 5 + 4 + 5 + 4 + 11 + 7 + 3 + 5; // map, sid, tag, ack, reply, dc

/**
 * A published message, encoded once per codec however many receivers it has. A delivery is
 * the shared tail (type, topic, id, payload) behind a few bytes naming the subscription.
 */
export class OutboundMessage {
  private msgpackTail: Uint8Array | undefined;
  private jsonTail: string | undefined;

  /** `fanout` is how many deliveries are expected: with one, the shared tail is not worth building. */
  constructor(readonly topic: string, readonly mid: string, readonly payload: Payload, private readonly fanout = 2) {}

  writeTo(writer: FrameWriter, codec: Codec, sid: number, extras?: DeliveryExtras): void {
    if (codec.name === 'msgpack') this.writeMsgpack(writer as MsgpackFrameWriter, sid, extras);
    else writer.piece(this.jsonPiece(sid, extras));
  }

  private writeMsgpack(w: MsgpackFrameWriter, sid: number, extras?: DeliveryExtras): void {
    if (!extras && this.fanout === 1 && !this.msgpackTail) {
      const data = this.payload.packedData();
      w.begin(MAX_HEAD + this.tailSize(data));
      w.byte(0x80 | (TAIL_ENTRIES + 1));
      w.raw(SID_KEY);
      w.uint(sid);
      w.pos = this.writeTail(w.buf, w.pos, data);
      return;
    }
    const tail = (this.msgpackTail ??= this.buildMsgpackTail());
    w.begin(MAX_HEAD + tail.length);
    if (!extras) {
      w.byte(0x80 | (TAIL_ENTRIES + 1));
      w.raw(SID_KEY);
      w.uint(sid);
      w.raw(tail);
      return;
    }
    const entries = TAIL_ENTRIES + 1 + (extras.tag !== undefined ? 1 : 0) + (extras.ack ? 1 : 0) + (extras.reply ? 1 : 0) + (extras.dc !== undefined ? 1 : 0);
    w.byte(0x80 | entries);
    w.raw(SID_KEY);
    w.uint(sid);
    if (extras.tag !== undefined) { w.raw(TAG_KEY); w.uint(extras.tag); }
    if (extras.ack) { w.raw(ACK_KEY); w.raw(ACK_VALUE[extras.ack]); }
    if (extras.reply) { w.raw(REPLY_KEY); w.byte(TRUE); }
    if (extras.dc !== undefined) { w.raw(DC_KEY); w.uint(extras.dc); }
    w.raw(tail);
  }

  private buildMsgpackTail(): Uint8Array {
    const data = this.payload.packedData();
    // allocUnsafe carves small buffers out of a shared slab: far cheaper than a Uint8Array each.
    const out = Buffer.allocUnsafe(this.tailSize(data));
    return out.subarray(0, this.writeTail(out, 0, data));
  }

  private tailSize(data: Uint8Array): number {
    return T_MSG.length + TOPIC_KEY.length + strLength(this.topic) + MID_KEY.length + strLength(this.mid) + DATA_KEY.length + 5 + data.length;
  }

  /** Writes the "t", "topic", "mid" and "data" entries at `p`; returns the position after them. */
  private writeTail(out: Uint8Array, p: number, data: Uint8Array): number {
    out.set(T_MSG, p);
    out.set(TOPIC_KEY, p + T_MSG.length);
    p = writeStr(out, p + T_MSG.length + TOPIC_KEY.length, this.topic);
    out.set(MID_KEY, p);
    p = writeStr(out, p + MID_KEY.length, this.mid);
    out.set(DATA_KEY, p);
    p = writeBinHeader(out, p + DATA_KEY.length, data.length);
    out.set(data, p);
    return p + data.length;
  }

  private jsonPiece(sid: number, extras?: DeliveryExtras): string {
    const tail = (this.jsonTail ??=
      '"t":"msg","topic":' + JSON.stringify(this.topic) + ',"mid":' + JSON.stringify(this.mid) + ',"data":' + this.payload.jsonData() + '}');
    let head = '{"sid":' + sid;
    if (extras?.tag !== undefined) head += ',"tag":' + extras.tag;
    if (extras?.ack) head += ',"ack":"' + extras.ack + '"';
    if (extras?.reply) head += ',"reply":true';
    if (extras?.dc !== undefined) head += ',"dc":' + extras.dc;
    return head + ',' + tail;
  }
}

