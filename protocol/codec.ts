import { Packr } from 'msgpackr';
import { LindenError } from './errors.js';
import { fromJsonValue, toJsonValue } from './json-data.js';
import { SUBPROTOCOLS, type CodecName } from './version.js';

/** One encoded message, ready to be joined with others into a frame. */
export type Piece = Uint8Array | string;

/** A codec turns messages into WebSocket frames and back, and payload values into wire payloads. */
export interface Codec {
  readonly name: CodecName;
  readonly subprotocol: string;
  /** Decodes one frame into its messages (a frame holds one message or an array of them). */
  decode(raw: Uint8Array | string, isBinary: boolean): unknown[];
  encode(message: object): Piece;
  /** Joins encoded messages into one frame holding an array. */
  join(pieces: Piece[], totalBytes: number): Uint8Array | string;
  /** A payload value as it travels in `data`. */
  packData(value: unknown): unknown;
  /** The payload value from what arrived in `data`. */
  unpackData(wire: unknown): unknown;
}

export const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true });

function asArray(decoded: unknown): unknown[] {
  return Array.isArray(decoded) ? decoded : [decoded];
}

function decodeError(codec: string, reason: string): LindenError {
  return new LindenError('DECODE_ERROR', `frame is not valid ${codec}: ${reason}`);
}

export const msgpackCodec: Codec = {
  name: 'msgpack',
  subprotocol: SUBPROTOCOLS.msgpack,
  decode(raw, isBinary) {
    if (!isBinary || typeof raw === 'string') throw decodeError('MessagePack', 'text frame on the MessagePack subprotocol');
    try {
      return asArray(packr.unpack(raw));
    } catch (err) {
      throw decodeError('MessagePack', (err as Error).message);
    }
  },
  encode: (message) => packr.pack(message),
  join(pieces, totalBytes) {
    const count = pieces.length;
    const header = count < 16 ? 1 : count < 0x10000 ? 3 : 5;
    const out = new Uint8Array(header + totalBytes);
    if (header === 1) out[0] = 0x90 | count;
    else if (header === 3) { out[0] = 0xdc; out[1] = count >> 8; out[2] = count & 0xff; }
    else { out[0] = 0xdd; new DataView(out.buffer).setUint32(1, count); }
    let offset = header;
    for (const piece of pieces) {
      out.set(piece as Uint8Array, offset);
      offset += (piece as Uint8Array).length;
    }
    return out;
  },
  packData: (value) => packr.pack(value),
  unpackData: (wire) => packr.unpack(wire as Uint8Array),
};

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
  join: (pieces) => '[' + (pieces as string[]).join(',') + ']',
  packData: (value) => toJsonValue(value),
  unpackData: (wire) => fromJsonValue(wire),
};

export const CODECS: Record<CodecName, Codec> = { msgpack: msgpackCodec, json: jsonCodec };

export function codecForSubprotocol(subprotocol: string): Codec | undefined {
  return subprotocol === SUBPROTOCOLS.msgpack ? msgpackCodec : subprotocol === SUBPROTOCOLS.json ? jsonCodec : undefined;
}

/** Byte length of a piece, used to keep frames under the size limit (JSON: UTF-16 length as an estimate). */
export function pieceLength(piece: Piece): number {
  return piece.length;
}
