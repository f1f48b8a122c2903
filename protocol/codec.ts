import { addExtension, C1, Packr } from 'msgpackr';
import { LindenError } from './errors.js';
import { allocate, binHeaderLength, JsonFrameWriter, MsgpackFrameWriter, writeBinHeader, type FrameWriter } from './frame-writer.js';
import { fromJsonValue, toJsonValue } from './json-data.js';
import { SUBPROTOCOLS, type CodecName } from './version.js';
import { flattenDeep } from './msgpack-depth.js';
import { withWideIntegers } from './wide-integers.js';
import { decodeCommonFrame, FALLBACK } from './common-frames.js';
import { encodeCommon } from './common-encoders.js';

/** One encoded message, ready to be joined with others into a frame. */
export type Piece = Uint8Array | string;

/** A codec turns messages into WebSocket frames and back, and payload values into wire payloads. */
export interface Codec {
  readonly name: CodecName;
  readonly subprotocol: string;
  /** Decodes one frame into its messages (a frame holds one message or an array of them). */
  decode(raw: Uint8Array | string, isBinary: boolean): unknown[];
  encode(message: object): Piece;
  /** A writer that coalesces messages into frames of at most `maxFrameBytes`. */
  createWriter(maxFrameBytes: number): FrameWriter;
  /** A payload value as it travels in `data`. */
  packData(value: unknown): unknown;
  /** The payload value from what arrived in `data`. */
  unpackData(wire: unknown): unknown;
}

// int64AsType 'auto': encoders in other languages often write small integers as int64/uint64;
// msgpackr supports it, its typings lag behind.
export const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, int64AsType: 'auto' as 'number' });

/**
 * Linden's MessagePack is the standard types plus the timestamp extension (-1). msgpackr also
 * decodes its own extensions (undefined, big integers, typed arrays, Set, Error, RegExp...);
 * Linden never writes them, and a peer that does gets DECODE_ERROR instead of odd JS values.
 */
for (const type of [0x00, 0x42, 0x62, 0x65, 0x69, 0x70, 0x73, 0x74, 0x78]) {
  addExtension({ type, unpack: () => { throw new Error(`extension type ${type} is not part of the protocol`); } } as never);
}

function asArray(decoded: unknown): unknown[] {
  return Array.isArray(decoded) ? decoded : [decoded];
}

function decodeError(codec: string, reason: string): LindenError {
  return new LindenError('DECODE_ERROR', `frame is not valid ${codec}: ${reason}`);
}

/** A MessagePack frame's messages as msgpackr reads them: what decodeCommonFrame() must match. */
export function decodeMsgpackGeneric(raw: Uint8Array): unknown[] {
  let decoded: unknown;
  try {
    decoded = packr.unpack(raw);
  } catch (err) {
    // Nested too deep for msgpackr's recursion: decode it cut short, so the message gets the
    // typed error of a too-deep value, with its `re` (protocol/msgpack-depth.ts).
    const flat = err instanceof RangeError ? flattenDeep(raw) : undefined;
    try {
      if (!flat) throw err;
      decoded = packr.unpack(new Parts(flat).join());
    } catch (again) {
      throw decodeError('MessagePack', (again as Error).message);
    }
  }
  const messages = asArray(decoded);
  // 0xc1 is "never used" in MessagePack; msgpackr hands back a marker object instead of failing.
  if (decoded === C1 || messages.includes(C1)) throw decodeError('MessagePack', 'the never-used byte 0xc1');
  return messages;
}

export const msgpackCodec: Codec = {
  name: 'msgpack',
  subprotocol: SUBPROTOCOLS.msgpack,
  decode(raw, isBinary) {
    if (!isBinary || typeof raw === 'string') throw decodeError('MessagePack', 'text frame on the MessagePack subprotocol');
    // Frames of publishes, deliveries, rcv, acks and receipts are read by hand (msgpackr took a
    // tenth of the broker's time on them); anything else, or anything odd, by msgpackr.
    const common = decodeCommonFrame(raw);
    return common !== FALLBACK ? common : decodeMsgpackGeneric(raw);
  },
  // A client's `rcv` and `ack`, one per delivery or request, by hand (protocol/common-encoders.ts).
  encode: (message) => encodeCommon(message) ?? packr.pack(withWideIntegers(message)),
  createWriter: (maxFrameBytes) => new MsgpackFrameWriter(maxFrameBytes),
  packData: (value) => (value instanceof Uint8Array && value.length >= OWN_BIN_FROM ? packBin(value) : packr.pack(withWideIntegers(value))),
  unpackData: (wire) => packr.unpack(wire as Uint8Array),
};

/** Payload bytes from this size are packed by packBin(), not by msgpackr. */
const OWN_BIN_FROM = 64 * 1024;

/**
 * Bytes as a MessagePack bin, in a buffer of exactly that size. msgpackr grows its own buffer to
 * twice a large value and keeps it for later messages: 100 MiB allocated, and kept, to pack a
 * 50 MiB payload (issue 14). The bytes are still copied: the caller may change them afterwards.
 */
function packBin(bytes: Uint8Array): Uint8Array {
  const out = allocate(binHeaderLength(bytes.length) + bytes.length);
  out.set(bytes, writeBinHeader(out, 0, bytes.length));
  return out;
}

const textDecoder = new TextDecoder('utf-8', { fatal: true });

export const jsonCodec: Codec = {
  name: 'json',
  subprotocol: SUBPROTOCOLS.json,
  decode(raw) {
    try {
      return asArray(JSON.parse(typeof raw === 'string' ? raw : textDecoder.decode(raw)));
    } catch (err) {
      throw decodeError('JSON', (err as Error).message);
    }
  },
  encode: (message) => JSON.stringify(message),
  createWriter: (maxFrameBytes) => new JsonFrameWriter(maxFrameBytes),
  packData: (value) => toJsonValue(value),
  unpackData: (wire) => fromJsonValue(wire),
};

export const CODECS: Record<CodecName, Codec> = { msgpack: msgpackCodec, json: jsonCodec };

export function codecForSubprotocol(subprotocol: string): Codec | undefined {
  return subprotocol === SUBPROTOCOLS.msgpack ? msgpackCodec : subprotocol === SUBPROTOCOLS.json ? jsonCodec : undefined;
}

const NO_BYTES = new Uint8Array(0);

/**
 * A MessagePack message whose `data` holds bytes, as Parts: its other fields encoded, then the
 * bytes where they are. Packed into the message, a large payload would be copied once more.
 */
export function packAroundData(message: { data: Uint8Array | readonly Uint8Array[] }): Parts {
  const { data, ...fields } = message;
  // `data` last, as an empty bin (c4 00): its header is written again for the real length.
  const head = packr.pack(withWideIntegers({ ...fields, data: NO_BYTES })) as Uint8Array;
  const header = new Uint8Array(5);
  // Several pieces: a slice of a message still arriving (protocol/byte-stream.ts).
  const pieces = data instanceof Uint8Array ? [data] : data;
  let length = 0;
  for (const p of pieces) length += p.length;
  return new Parts([head.subarray(0, head.length - 2), header.subarray(0, writeBinHeader(header, 0, length)), ...pieces]);
}

/**
 * A MessagePack message in consecutive parts, for message-level interceptors: a large payload
 * keeps its own buffer instead of being copied behind the message's other fields.
 */
export class Parts {
  readonly length: number;

  constructor(readonly parts: readonly Uint8Array[]) {
    let n = 0;
    for (const p of parts) n += p.length;
    this.length = n;
  }

  /** Bytes [from, to) of the whole; a copy only when they span parts. */
  slice(from: number, to: number): Uint8Array {
    let offset = 0;
    for (const p of this.parts) {
      if (from >= offset && to <= offset + p.length) return p.subarray(from - offset, to - offset);
      offset += p.length;
    }
    const out = new Uint8Array(to - from);
    offset = 0;
    for (const p of this.parts) {
      const start = Math.max(from, offset);
      const end = Math.min(to, offset + p.length);
      if (start < end) out.set(p.subarray(start - offset, end - offset), start - from);
      offset += p.length;
    }
    return out;
  }

  join(): Uint8Array {
    return this.slice(0, this.length);
  }
}
