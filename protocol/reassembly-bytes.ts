/**
 * The MessagePack bytes of one message being reassembled from its fragments (protocol.md §2.3).
 *
 * Where the runtime can grow an ArrayBuffer in place (Node 20+), they go into one buffer that
 * grows by each fragment as it arrives: only address space is reserved for the `size` the first
 * fragment announced, memory is committed as bytes arrive, and the whole message is never copied
 * a second time to be joined. A 50 MiB message then takes 50 MiB in a broker, not twice that
 * (issue 14). Browsers refuse views of such buffers in some APIs (TextDecoder, WebSocket.send),
 * so there the fragments are kept as they came and joined at the end.
 */
export class ReassemblyBytes {
  private readonly grown: ArrayBuffer | undefined;
  private readonly parts: Uint8Array[] = [];
  length = 0;

  constructor(size: number) {
    this.grown = GROWS_IN_PLACE ? reserve(size) : undefined;
  }

  /** The next slice; the caller has checked that the total stays within `size`. */
  append(data: Uint8Array): void {
    const at = this.length;
    this.length += data.length;
    const grown = this.grown;
    if (grown) {
      (grown as ResizableArrayBuffer).resize(this.length);
      new Uint8Array(grown, at, data.length).set(data);
      return;
    }
    // A decoded bin may be a view into a larger frame: keep a copy of just the slice.
    this.parts.push(Uint8Array.prototype.slice.call(data) as Uint8Array);
  }

  /** The message's bytes, once all have arrived. */
  join(): Uint8Array {
    if (this.grown) return new Uint8Array(this.grown, 0, this.length);
    if (this.parts.length === 1) return this.parts[0]!;
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

interface ResizableArrayBuffer extends ArrayBuffer {
  resize(length: number): void;
}
type ResizableArrayBufferConstructor = new (length: number, options: { maxByteLength: number }) => ArrayBuffer;

/** A buffer that may grow to `size`, or undefined where the address space cannot be had: then the slices are kept. */
function reserve(size: number): ArrayBuffer | undefined {
  try {
    return new (ArrayBuffer as ResizableArrayBufferConstructor)(0, { maxByteLength: size });
  } catch {
    return undefined;
  }
}

const GROWS_IN_PLACE = typeof process !== 'undefined' && typeof process.versions?.node === 'string'
  && typeof (ArrayBuffer.prototype as Partial<ResizableArrayBuffer>).resize === 'function';
