import { packr, type Codec } from '../../protocol/codec.js';
import { LindenError } from '../../protocol/errors.js';
import { utf8Length } from '../../protocol/frame-writer.js';
import { fromJsonValue, toJsonValue } from '../../protocol/json-data.js';
import { StreamedBytes, type ByteStream } from '../../protocol/byte-stream.js';

/**
 * A payload as it arrived (MessagePack bytes or a JSON-codec value), converted to the other
 * codec at most once, when a receiver of that codec first needs it.
 */
export class Payload {
  private packed: Uint8Array | undefined;
  private json: string | undefined;
  /** Size as it arrived, measured once: every publish checks it, every delivery asks whether to fragment. */
  private readonly bytes: number;
  /** The bytes of a large `pub` still arriving, forwarded as they come (issue 14); undefined for any other payload. */
  readonly stream: ByteStream | undefined;

  constructor(wire: unknown, codec: Codec) {
    if (wire instanceof StreamedBytes) {
      this.stream = wire.stream;
      this.bytes = wire.stream.length;
      return;
    }
    if (codec.name === 'msgpack') {
      this.packed = wire as Uint8Array;
      this.bytes = this.packed.length;
      return;
    }
    try {
      this.json = JSON.stringify(wire);
    } catch (err) {
      // JSON.parse accepted it, but nesting deep enough overflows the stack here.
      throw new LindenError('INVALID_FRAME', `field "data" cannot be handled: ${(err as Error).message}`, { field: 'data' });
    }
    this.bytes = utf8Length(this.json);
  }

  packedData(): Uint8Array {
    if (this.stream) throw new Error('Payload: the bytes of a streamed payload are not all here');
    return (this.packed ??= packr.pack(fromJsonValue(JSON.parse(this.json!))));
  }

  /** Throws DECODE_ERROR when MessagePack bytes that were forwarded untouched so far do not decode. */
  jsonData(): string {
    if (this.json === undefined) {
      let value: unknown;
      try {
        value = toJsonValue(packr.unpack(this.packed!));
      } catch (err) {
        throw new LindenError('DECODE_ERROR', `field "data" is not valid MessagePack: ${(err as Error).message}`, { field: 'data' });
      }
      this.json = JSON.stringify(value);
    }
    return this.json;
  }

  /** Whether a JSON receiver can be given it (jsonData() does not throw). */
  convertible(): boolean {
    try {
      this.jsonData();
      return true;
    } catch {
      return false;
    }
  }

  /** The payload as it travels in `data` for a codec. */
  wireData(codec: Codec): unknown {
    return codec.name === 'msgpack' ? this.packedData() : JSON.parse(this.jsonData());
  }

  /** Size as it arrived: MessagePack bytes, or the UTF-8 bytes of the JSON text. */
  byteLength(): number {
    return this.bytes;
  }
}

/** A payload within the connection's maxMessageBytes, as it arrived (a `pub`'s data, an `ack`'s reply). */
export function payloadWithin(conn: { readonly codec: Codec; readonly maxMessageBytes: number }, data: unknown): Payload {
  const payload = new Payload(data, conn.codec);
  const bytes = payload.byteLength();
  const limit = conn.maxMessageBytes;
  if (bytes > limit) {
    throw new LindenError('MESSAGE_TOO_LARGE', `payload of ${bytes} bytes exceeds maxMessageBytes (${limit})`, { bytes, limit });
  }
  return payload;
}
