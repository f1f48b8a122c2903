import { packr, type Codec } from '../../protocol/codec.js';
import { Parts, type Piece } from '../../protocol/codec.js';
import { bytes, MsgpackFrameWriter, packStr, strLength, writeBinHeader, writeBytes, writeStr, type FrameWriter } from '../../protocol/frame-writer.js';
import type { Headers } from '../../protocol/headers.js';
import type { Payload } from './payload.js';
import { StreamedParts } from '../../protocol/byte-stream.js';

export interface DeliveryExtras {
  tag?: number;
  ack?: 'delivery' | 'processing';
  reply?: boolean;
  /** Delivery count of a durable delivery. */
  dc?: number;
  /** Stream deliveries: the message's seq in the stream and its append time. */
  seq?: number;
  time?: number;
  /** A retained message sent ahead of live ones (issue 17); live deliveries never set it. */
  retained?: boolean;
}

/** The extras of every retained delivery: one object, not one per delivery. */
export const RETAINED_DELIVERY: DeliveryExtras = Object.freeze({ retained: true });

const SID_KEY = bytes(0xa3, 0x73, 0x69, 0x64);
const TAG_KEY = bytes(0xa3, 0x74, 0x61, 0x67);
const ACK_KEY = bytes(0xa3, 0x61, 0x63, 0x6b);
const REPLY_KEY = bytes(0xa5, 0x72, 0x65, 0x70, 0x6c, 0x79);
const DC_KEY = bytes(0xa2, 0x64, 0x63);
const SEQ_KEY = bytes(0xa3, 0x73, 0x65, 0x71);
const TIME_KEY = bytes(0xa4, 0x74, 0x69, 0x6d, 0x65);
const RETAINED_KEY = bytes(0xa8, 0x72, 0x65, 0x74, 0x61, 0x69, 0x6e, 0x65, 0x64);
const TRUE = 0xc3;
const ACK_VALUE = { delivery: packStr('delivery'), processing: packStr('processing') };
const T_MSG = bytes(0xa1, 0x74, 0xa3, 0x6d, 0x73, 0x67); // "t": "msg"
const TOPIC_KEY = bytes(0xa5, 0x74, 0x6f, 0x70, 0x69, 0x63);
const MID_KEY = bytes(0xa3, 0x6d, 0x69, 0x64);
const DATA_KEY = bytes(0xa4, 0x64, 0x61, 0x74, 0x61);
const HDR_KEY = bytes(0xa3, 0x68, 0x64, 0x72);
const FRAME_HEADER = 5;
const EMPTY = new Uint8Array(0);
const TAIL_ENTRIES = 4; // t, topic, mid, data (and hdr when the publisher gave headers)
const MAX_HEAD = 1 + 4 + 5 + 4 + 5 + 4 + 11 + 7 + 3 + 5 + 10 + 4 + 9 + 5 + 9; // map, sid, tag, ack, reply, dc, retained, seq, time
/** The head of a delivery without extras (map, sid): most transient deliveries reserve only this. */
const PLAIN_HEAD = 1 + 4 + 5;

/**
 * A published message, encoded once per codec however many receivers it has. A delivery is
 * the shared tail (type, topic, id, payload, headers) behind a few bytes naming the subscription.
 */
export class OutboundMessage {
  private msgpackTail: Uint8Array | undefined;
  private jsonTail: string | undefined;
  /** The headers' MessagePack encoding, made once; undefined without headers. */
  private packedHdr: Uint8Array | undefined;
  /** HDR_KEY and packedHdr together, for deliveries in parts. */
  private hdrEntry: Uint8Array | undefined;

  /**
   * `fanout` is how many deliveries are expected: with one, the shared tail is not worth building.
   * `hdr` travels untouched; a message without it pays nothing for the feature.
   */
  /** `topicBytes`: the topic already encoded as a MessagePack str (the route caches it), or undefined to encode it here. */
  constructor(
    readonly topic: string, readonly mid: string, readonly payload: Payload, private readonly fanout = 2, readonly hdr?: Headers,
    private readonly topicBytes?: Uint8Array,
  ) {}

  writeTo(writer: FrameWriter, codec: Codec, sid: number, extras?: DeliveryExtras): void {
    if (codec.name === 'msgpack') this.writeMsgpack(writer as MsgpackFrameWriter, sid, extras);
    else writer.piece(this.jsonPiece(sid, extras));
  }

  private writeMsgpack(w: MsgpackFrameWriter, sid: number, extras?: DeliveryExtras): void {
    // One receiver (a durable delivery, with its tag): straight into the frame, no tail copy.
    if (this.fanout === 1 && !this.msgpackTail) {
      const data = this.payload.packedData();
      w.begin((extras ? MAX_HEAD : PLAIN_HEAD) + this.tailSize(data));
      this.writeHead(w, sid, extras);
      w.pos = this.writeTail(w.buf, w.pos, data);
      return;
    }
    const tail = (this.msgpackTail ??= this.buildMsgpackTail());
    w.begin((extras ? MAX_HEAD : PLAIN_HEAD) + tail.length);
    this.writeHead(w, sid, extras);
    w.raw(tail);
  }

  /** The map header and the entries naming the delivery (sid, tag, ack, reply, dc). */
  private writeHead(w: MsgpackFrameWriter, sid: number, extras?: DeliveryExtras): void {
    if (!extras) {
      w.byte(0x80 | (this.tailEntries() + 1));
      w.raw(SID_KEY);
      w.uint(sid);
      return;
    }
    const entries = this.tailEntries() + 1 + (extras.tag !== undefined ? 1 : 0) + (extras.ack ? 1 : 0) + (extras.reply ? 1 : 0)
      + (extras.dc !== undefined ? 1 : 0) + (extras.retained ? 1 : 0) + (extras.seq !== undefined ? 2 : 0);
    w.byte(0x80 | entries);
    w.raw(SID_KEY);
    w.uint(sid);
    if (extras.tag !== undefined) { w.raw(TAG_KEY); w.uint(extras.tag); }
    if (extras.ack) { w.raw(ACK_KEY); w.raw(ACK_VALUE[extras.ack]); }
    if (extras.reply) { w.raw(REPLY_KEY); w.byte(TRUE); }
    if (extras.dc !== undefined) { w.raw(DC_KEY); w.uint(extras.dc); }
    if (extras.seq !== undefined) { w.raw(SEQ_KEY); w.uint64(extras.seq); w.raw(TIME_KEY); w.uint64(extras.time!); }
    if (extras.retained) { w.raw(RETAINED_KEY); w.byte(TRUE); }
  }

  private buildMsgpackTail(): Uint8Array {
    const data = this.payload.packedData();
    // allocUnsafe carves small buffers out of a shared slab: far cheaper than a Uint8Array each.
    const out = Buffer.allocUnsafe(this.tailSize(data));
    return out.subarray(0, this.writeTail(out, 0, data));
  }

  private tailEntries(): number {
    return this.hdr === undefined ? TAIL_ENTRIES : TAIL_ENTRIES + 1;
  }

  private tailSize(data: Uint8Array): number {
    const size = T_MSG.length + TOPIC_KEY.length + (this.topicBytes?.length ?? strLength(this.topic)) + MID_KEY.length + strLength(this.mid) + DATA_KEY.length + 5 + data.length;
    if (this.hdr === undefined) return size;
    this.packedHdr ??= packr.pack(this.hdr);
    return size + HDR_KEY.length + this.packedHdr.length;
  }

  /** Writes the "t", "topic", "mid", "data" (and "hdr") entries at `p`, after tailSize(); returns the position after them. */
  private writeTail(out: Uint8Array, p: number, data: Uint8Array): number {
    p = this.writeTailUpToData(out, p, data.length);
    out.set(data, p);
    p += data.length;
    if (this.packedHdr === undefined) return p;
    p = writeBytes(out, p, HDR_KEY);
    out.set(this.packedHdr, p);
    return p + this.packedHdr.length;
  }

  /** The tail up to the payload bytes: "t", "topic", "mid", the "data" key and its bin header. */
  private writeTailUpToData(out: Uint8Array, p: number, dataLength: number): number {
    p = writeBytes(out, p, T_MSG);
    p = writeBytes(out, p, TOPIC_KEY);
    p = this.topicBytes ? writeBytes(out, p, this.topicBytes) : writeStr(out, p, this.topic);
    p = writeBytes(out, p, MID_KEY);
    p = writeStr(out, p, this.mid);
    p = writeBytes(out, p, DATA_KEY);
    return writeBinHeader(out, p, dataLength);
  }

  /** Payload size as it arrived: decides whether a delivery is large enough to be fragmented. */
  get payloadBytes(): number {
    return this.payload.byteLength();
  }

  /**
   * One delivery as a standalone encoded message, for message-level interceptors
   * (fragmentation). In MessagePack its parts leave the payload where it is: copying tens of
   * MiB at once would stall the event loop for every other client.
   */
  encode(codec: Codec, sid: number, extras?: DeliveryExtras): Piece | Parts {
    if (codec.name === 'json') return this.jsonPiece(sid, extras);
    const stream = this.payload.stream;
    // A payload still arriving follows its head as it comes (protocol/byte-stream.ts).
    if (stream) return new StreamedParts(this.headUpToData(sid, extras, stream.length), stream.reader(), this.hdrPiece());
    const data = this.payload.packedData();
    const head = this.headUpToData(sid, extras, data.length);
    const hdr = this.hdrPiece();
    return new Parts(hdr === undefined ? [head, data] : [head, data, hdr]);
  }

  /** A delivery's bytes up to its payload: the head naming it, then the tail's fields and the payload's bin header. */
  private headUpToData(sid: number, extras: DeliveryExtras | undefined, dataLength: number): Uint8Array {
    const w = new MsgpackFrameWriter(Number.MAX_SAFE_INTEGER);
    w.begin(MAX_HEAD + this.tailSize(EMPTY));
    this.writeHead(w, sid, extras);
    w.pos = this.writeTailUpToData(w.buf, w.pos, dataLength);
    // The writer frames it as a one-element array: the message follows the 5-byte array header.
    return (w.take()[0] as Uint8Array).subarray(FRAME_HEADER);
  }

  /** The "hdr" entry that follows the payload, made once; undefined without headers. */
  private hdrPiece(): Uint8Array | undefined {
    if (this.packedHdr === undefined) return undefined;
    return (this.hdrEntry ??= Buffer.concat([Buffer.from(HDR_KEY), this.packedHdr]));
  }

  private jsonPiece(sid: number, extras?: DeliveryExtras): string {
    const tail = (this.jsonTail ??=
      '"t":"msg","topic":' + JSON.stringify(this.topic) + ',"mid":' + JSON.stringify(this.mid) + ',"data":' + this.payload.jsonData()
      + (this.hdr === undefined ? '}' : ',"hdr":' + JSON.stringify(this.hdr) + '}'));
    let head = '{"sid":' + sid;
    if (extras?.tag !== undefined) head += ',"tag":' + extras.tag;
    if (extras?.ack) head += ',"ack":"' + extras.ack + '"';
    if (extras?.reply) head += ',"reply":true';
    if (extras?.dc !== undefined) head += ',"dc":' + extras.dc;
    if (extras?.seq !== undefined) head += ',"seq":' + extras.seq + ',"time":' + extras.time;
    if (extras?.retained) head += ',"retained":true';
    return head + ',' + tail;
  }
}

