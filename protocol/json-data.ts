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

/** The reverse of toJsonValue: `{"$bin": "..."}` becomes bytes again. */
export function fromJsonValue(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(fromJsonValue);
  const keys = Object.keys(value);
  const record = value as Record<string, unknown>;
  if (keys.length === 1 && keys[0] === BIN_KEY && typeof record[BIN_KEY] === 'string') {
    return base64.decode(record[BIN_KEY] as string);
  }
  const out: Record<string, unknown> = {};
  for (const key of keys) out[key] = fromJsonValue(record[key]);
  return out;
}
