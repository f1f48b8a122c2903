import { packr, type Codec, type Piece } from '../../protocol/codec.js';
import type { Payload } from './payload.js';

export interface DeliveryExtras {
  tag?: number;
  ack?: 'delivery' | 'processing';
  reply?: boolean;
}

const SID_KEY = [0xa3, 0x73, 0x69, 0x64];
const TAG_KEY = [0xa3, 0x74, 0x61, 0x67];
const ACK_KEY = [0xa3, 0x61, 0x63, 0x6b];
const REPLY_KEY = [0xa5, 0x72, 0x65, 0x70, 0x6c, 0x79];
const TRUE = 0xc3;
const ACK_VALUE = {
  delivery: packr.pack('delivery'),
  processing: packr.pack('processing'),
};
const TAIL_ENTRIES = 4; // t, topic, mid, data

/**
 * A published message, encoded once per codec however many receivers it has. A delivery is
 * the shared tail (type, topic, id, payload) behind a few bytes naming the subscription.
 */
export class OutboundMessage {
  private msgpackTail: Uint8Array | undefined;
  private jsonTail: string | undefined;

  constructor(readonly topic: string, readonly mid: string, readonly payload: Payload) {}

  piece(codec: Codec, sid: number, extras?: DeliveryExtras): Piece {
    return codec.name === 'msgpack' ? this.msgpackPiece(sid, extras) : this.jsonPiece(sid, extras);
  }

  private msgpackPiece(sid: number, extras?: DeliveryExtras): Uint8Array {
    const tail = (this.msgpackTail ??= mapEntries(
      packr.pack({ t: 'msg', topic: this.topic, mid: this.mid, data: this.payload.packedData() }),
    ));
    let head = 1 + 4 + uintLength(sid);
    let entries = TAIL_ENTRIES + 1;
    if (extras?.tag !== undefined) { head += 4 + uintLength(extras.tag); entries++; }
    if (extras?.ack) { head += 4 + ACK_VALUE[extras.ack].length; entries++; }
    if (extras?.reply) { head += 7; entries++; }
    const out = new Uint8Array(head + tail.length);
    out[0] = 0x80 | entries;
    out.set(SID_KEY, 1);
    let p = writeUint(out, 5, sid);
    if (extras?.tag !== undefined) { out.set(TAG_KEY, p); p = writeUint(out, p + 4, extras.tag); }
    if (extras?.ack) { out.set(ACK_KEY, p); out.set(ACK_VALUE[extras.ack], p + 4); p += 4 + ACK_VALUE[extras.ack].length; }
    if (extras?.reply) { out.set(REPLY_KEY, p); out[p + 6] = TRUE; p += 7; }
    out.set(tail, p);
    return out;
  }

  private jsonPiece(sid: number, extras?: DeliveryExtras): string {
    const tail = (this.jsonTail ??=
      '"t":"msg","topic":' + JSON.stringify(this.topic) + ',"mid":' + JSON.stringify(this.mid) + ',"data":' + this.payload.jsonData() + '}');
    let head = '{"sid":' + sid;
    if (extras?.tag !== undefined) head += ',"tag":' + extras.tag;
    if (extras?.ack) head += ',"ack":"' + extras.ack + '"';
    if (extras?.reply) head += ',"reply":true';
    return head + ',' + tail;
  }
}

/** The key/value bytes of a packed map, without its header. */
function mapEntries(map: Uint8Array): Uint8Array {
  const first = map[0]!;
  if ((first & 0xf0) === 0x80) return map.subarray(1);
  if (first === 0xde) return map.subarray(3);
  return map.subarray(5); // 0xdf
}

function uintLength(n: number): number {
  return n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

function writeUint(out: Uint8Array, p: number, n: number): number {
  if (n < 0x80) { out[p] = n; return p + 1; }
  if (n < 0x100) { out[p] = 0xcc; out[p + 1] = n; return p + 2; }
  if (n < 0x10000) { out[p] = 0xcd; out[p + 1] = n >> 8; out[p + 2] = n & 0xff; return p + 3; }
  out[p] = 0xce; out[p + 1] = n >>> 24; out[p + 2] = (n >>> 16) & 0xff; out[p + 3] = (n >>> 8) & 0xff; out[p + 4] = n & 0xff;
  return p + 5;
}
