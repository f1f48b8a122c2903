import { packr, type Codec } from '../../protocol/codec.js';
import { fromJsonValue, toJsonValue } from '../../protocol/json-data.js';

/**
 * A payload as it arrived (MessagePack bytes or a JSON-codec value), converted to the other
 * codec at most once, when a receiver of that codec first needs it.
 */
export class Payload {
  private packed: Uint8Array | undefined;
  private json: string | undefined;

  constructor(wire: unknown, codec: Codec) {
    if (codec.name === 'msgpack') this.packed = wire as Uint8Array;
    else this.json = JSON.stringify(wire);
  }

  packedData(): Uint8Array {
    return (this.packed ??= packr.pack(fromJsonValue(JSON.parse(this.json!))));
  }

  jsonData(): string {
    return (this.json ??= JSON.stringify(toJsonValue(packr.unpack(this.packed!))));
  }

  /** The payload as it travels in `data` for a codec. */
  wireData(codec: Codec): unknown {
    return codec.name === 'msgpack' ? this.packedData() : JSON.parse(this.jsonData());
  }

  /** Size as it arrived: MessagePack bytes, or JSON text length. */
  byteLength(): number {
    return this.packed ? this.packed.length : this.json!.length;
  }
}
