/**
 * `value` with every byte array in it (at any depth) replaced by a copy of its own, for a value
 * decoded as views into memory that LMDB reuses. The copies come from Node's Buffer pool
 * (allocUnsafe: 8 KiB slabs shared by small buffers): msgpackr's own copy gave each payload an
 * ArrayBuffer of its own, which cost a draining queue a quarter of its read time (issue 21).
 */
export function ownBinaries(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Uint8Array) {
    const copy = Buffer.allocUnsafe(value.length);
    copy.set(value);
    return copy;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v = value[i] as unknown;
      if (v !== null && typeof v === 'object') value[i] = ownBinaries(v);
    }
    return value;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const v = record[key];
    if (v !== null && typeof v === 'object') record[key] = ownBinaries(v);
  }
  return value;
}
