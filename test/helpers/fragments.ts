/** Hand-made `frag` messages, for tests that check how fragments are reassembled or refused. */

/** An encoded message: MessagePack bytes or JSON text. */
export type EncodedMessage = Uint8Array | string;

/** A `frag` message; fields are loose so tests can break them. */
export interface Frag { t: 'frag'; fid?: unknown; seq?: unknown; n?: unknown; size?: unknown; data?: unknown }

/** Bytes of an encoded message or a fragment's data, as `size` counts them (UTF-8 for text). */
export function byteSize(data: unknown): number {
  return typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : (data as Uint8Array).length;
}

export function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

/** `n` frags of one encoded message, cut at even points (never inside a surrogate pair). */
export function fragment(piece: EncodedMessage, fid: number, n: number): Frag[] {
  const bounds = [0];
  for (let i = 1; i < n; i++) {
    let at = Math.round((piece.length * i) / n);
    if (typeof piece === 'string' && isHighSurrogate(piece.charCodeAt(at - 1))) at--;
    bounds.push(at);
  }
  bounds.push(piece.length);
  return bounds.slice(0, -1).map((from, seq) => {
    const f: Frag = { t: 'frag', fid, seq, n };
    if (seq === 0) f.size = byteSize(piece);
    f.data = piece.slice(from, bounds[seq + 1]);
    return f;
  });
}

/** A copy of `f` without `field`. */
export function without(f: Frag, field: keyof Frag): Frag {
  const copy = { ...f };
  delete copy[field];
  return copy;
}
