/*
 * msgpackr writes a number that does not fit 32 bits as float64 even when it is an integer, so
 * a timestamp such as `expiresAt` would reach a strictly typed client as a double. MessagePack
 * has 64-bit integers for that (protocol.md §2.2): a safe integer beyond 32 bits is handed to
 * msgpackr as a bigint, which it writes as int64.
 */

const isWide = (n: number): boolean => (n > 0xffffffff || n < -0x80000000) && Number.isSafeInteger(n);

/** `value`, or a copy of it with every wide safe integer as a bigint; shares what has none. */
export function withWideIntegers(value: unknown): unknown {
  if (typeof value === 'number') return isWide(value) ? BigInt(value) : value;
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const w = withWideIntegers(v);
      if (w !== v) (copy ??= value.slice())[i] = w;
    }
    return copy ?? value;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return value; // Date: the timestamp extension
  let copy: Record<string, unknown> | undefined;
  for (const key in value) {
    const v = (value as Record<string, unknown>)[key];
    const w = withWideIntegers(v);
    if (w !== v) (copy ??= { ...(value as Record<string, unknown>) })[key] = w;
  }
  return copy ?? value;
}
