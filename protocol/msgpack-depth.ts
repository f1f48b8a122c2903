/*
 * msgpackr decodes recursively, so a value nested a few thousand levels deep overflows the stack
 * and the whole frame would be a DECODE_ERROR without `re`. No message field is ever that deep
 * (tuples and templates stop at 32, protocol.md §10.4), so past MAX_DEPTH a nested container is
 * replaced by nil: the frame then decodes, and the message gets the typed error its validation
 * gives for too deep a value, with its `re`. Only frames that overflowed pay for this walk.
 */

/** Deeper than any valid message, shallow enough for msgpackr's recursion. */
export const MAX_DEPTH = 256;

const NIL = 0xc0;

/**
 * `raw` with every container deeper than `maxDepth` replaced by nil, as consecutive pieces to
 * join (codec.ts `Parts`); undefined when it is not MessagePack.
 */
export function flattenDeep(raw: Uint8Array, maxDepth = MAX_DEPTH): Uint8Array[] | undefined {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  // Items still to read in each open container (maps count keys and values).
  const open: number[] = [];
  let copiedTo = 0;
  const chunks: Uint8Array[] = [];
  let p = 0;
  const take = (): void => {
    // One item is read: close every container it completes.
    while (open.length > 0 && --open[open.length - 1]! === 0) open.pop();
  };
  while (p < raw.length) {
    const start = p;
    const head = header(raw, view, p);
    if (!head) return undefined;
    p += head.size;
    if (head.items > 0 && open.length >= maxDepth) {
      // Skip this whole container and write nil in its place.
      let pending = head.items;
      while (pending > 0) {
        const inner = header(raw, view, p);
        if (!inner) return undefined;
        p += inner.size + inner.payload;
        pending += inner.items - 1;
      }
      chunks.push(raw.subarray(copiedTo, start), Uint8Array.of(NIL));
      copiedTo = p;
      take();
      continue;
    }
    p += head.payload;
    if (head.items > 0) open.push(head.items);
    else take();
  }
  chunks.push(raw.subarray(copiedTo));
  return chunks;
}

interface Header {
  /** Bytes of the header itself. */
  size: number;
  /** Bytes of data after it (strings, bins, exts, numbers). */
  payload: number;
  /** Items that follow as children (arrays: n, maps: 2n). */
  items: number;
}

function header(b: Uint8Array, v: DataView, p: number): Header | undefined {
  if (p >= b.length) return undefined;
  const t = b[p]!;
  const need = (n: number): boolean => p + n <= b.length;
  if (t <= 0x7f || t >= 0xe0 || (t >= 0xc0 && t <= 0xc3)) return { size: 1, payload: 0, items: 0 };
  if (t >= 0x80 && t <= 0x8f) return { size: 1, payload: 0, items: (t & 0x0f) * 2 };
  if (t >= 0x90 && t <= 0x9f) return { size: 1, payload: 0, items: t & 0x0f };
  if (t >= 0xa0 && t <= 0xbf) return { size: 1, payload: t & 0x1f, items: 0 };
  switch (t) {
    case 0xc4: case 0xd9: return need(2) ? { size: 2, payload: b[p + 1]!, items: 0 } : undefined;
    case 0xc5: case 0xda: return need(3) ? { size: 3, payload: v.getUint16(p + 1), items: 0 } : undefined;
    case 0xc6: case 0xdb: return need(5) ? { size: 5, payload: v.getUint32(p + 1), items: 0 } : undefined;
    case 0xc7: return need(3) ? { size: 3, payload: b[p + 1]!, items: 0 } : undefined;
    case 0xc8: return need(4) ? { size: 4, payload: v.getUint16(p + 1), items: 0 } : undefined;
    case 0xc9: return need(6) ? { size: 6, payload: v.getUint32(p + 1), items: 0 } : undefined;
    case 0xca: return { size: 1, payload: 4, items: 0 };
    case 0xcb: return { size: 1, payload: 8, items: 0 };
    case 0xcc: case 0xd0: return { size: 1, payload: 1, items: 0 };
    case 0xcd: case 0xd1: return { size: 1, payload: 2, items: 0 };
    case 0xce: case 0xd2: return { size: 1, payload: 4, items: 0 };
    case 0xcf: case 0xd3: return { size: 1, payload: 8, items: 0 };
    case 0xd4: return { size: 2, payload: 1, items: 0 };
    case 0xd5: return { size: 2, payload: 2, items: 0 };
    case 0xd6: return { size: 2, payload: 4, items: 0 };
    case 0xd7: return { size: 2, payload: 8, items: 0 };
    case 0xd8: return { size: 2, payload: 16, items: 0 };
    case 0xdc: return need(3) ? { size: 3, payload: 0, items: v.getUint16(p + 1) } : undefined;
    case 0xdd: return need(5) ? { size: 5, payload: 0, items: v.getUint32(p + 1) } : undefined;
    case 0xde: return need(3) ? { size: 3, payload: 0, items: v.getUint16(p + 1) * 2 } : undefined;
    case 0xdf: return need(5) ? { size: 5, payload: 0, items: v.getUint32(p + 1) * 2 } : undefined;
    default: return undefined;
  }
}
