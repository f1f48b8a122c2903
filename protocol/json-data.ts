import { C1 } from 'msgpackr';
/**
 * JSON has no binary type, so the JSON codec writes binary values as `{"$bin": "<base64>"}`.
 * An object whose only key is `$bin` is therefore reserved in JSON payloads.
 */
const BIN_KEY = '$bin';

type Base64 = { encode(bytes: Uint8Array): string; decode(text: string): Uint8Array };

const base64: Base64 = typeof (globalThis as { Buffer?: unknown }).Buffer === 'function'
  ? {
      encode: (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'),
      decode: (text) => Buffer.from(text, 'base64'),
    }
  : {
      encode: (bytes) => {
        let s = '';
        for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        return btoa(s);
      },
      decode: (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0)),
    };

/** Turns a decoded MessagePack value into one JSON.stringify renders faithfully. */
export function toJsonValue(value: unknown): unknown {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
    return value;
  }
  if (value instanceof Uint8Array) return { [BIN_KEY]: base64.encode(value) };
  if (Array.isArray(value)) return value.map(toJsonValue);
  // msgpackr decodes the never-used byte 0xc1 to a marker object instead of failing.
  if (value === C1) throw new Error('the never-used byte 0xc1');
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of value) out[String(k)] = toJsonValue(v);
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) out[key] = toJsonValue((value as Record<string, unknown>)[key]);
  return out;
}

/**
 * The reverse of toJsonValue: `{"$bin": "..."}` becomes bytes again. Arrays and objects nested
 * deeper than `maxDepth` (the value itself is depth 1) are returned as they are: a caller that
 * refuses values nested that deep sees them and says so, and a value nested thousands deep
 * (JSON.parse takes any depth) cannot overflow the stack here.
 */
export function fromJsonValue(value: unknown, maxDepth = Infinity): unknown {
  return convert(value, 1, maxDepth);
}

function convert(value: unknown, depth: number, maxDepth: number): unknown {
  if (value === null || typeof value !== 'object' || depth > maxDepth) return value;
  if (Array.isArray(value)) return value.map((v) => convert(v, depth + 1, maxDepth));
  const keys = Object.keys(value);
  const record = value as Record<string, unknown>;
  if (keys.length === 1 && keys[0] === BIN_KEY && typeof record[BIN_KEY] === 'string') {
    return base64.decode(record[BIN_KEY] as string);
  }
  const out: Record<string, unknown> = {};
  for (const key of keys) out[key] = convert(record[key], depth + 1, maxDepth);
  return out;
}
