/*
 * Hand-written MessagePack for the settling messages a client sends per delivery, `rcv` and `ack`
 * (issue 14): a few fixed bytes and the numbers, where msgpackr walks a generic object. Standard
 * MessagePack (fixmap, str, uint, bin), so any decoder reads it; any other shape is left to
 * msgpackr (undefined).
 */
import { allocate, arrayHeaderLength, binHeaderLength, bytes, uintLength, writeArrayHeader, writeBinHeader, writeBytes, writeUint } from './frame-writer.js';
import { isUint } from './limits.js';

const RCV_HEAD = bytes(0x82, 0xa1, 0x74, 0xa3, 0x72, 0x63, 0x76, 0xa4, 0x74, 0x61, 0x67, 0x73); // {t: "rcv", tags:
const T_ACK = bytes(0xa1, 0x74, 0xa3, 0x61, 0x63, 0x6b); // t: "ack"
const TAG_KEY = bytes(0xa3, 0x74, 0x61, 0x67);
const DATA_KEY = bytes(0xa4, 0x64, 0x61, 0x74, 0x61);

/** `message` encoded, when it is an `rcv` or `ack` of the shape the SDK sends; otherwise undefined. */
export function encodeCommon(message: object): Uint8Array | undefined {
  const m = message as Record<string, unknown>;
  if (m.t === 'rcv') return encodeRcv(m);
  if (m.t === 'ack') return encodeAck(m);
  return undefined;
}

function encodeRcv(m: Record<string, unknown>): Uint8Array | undefined {
  if (!onlyKeys(m, 't', 'tags')) return undefined;
  const tags = m.tags;
  if (!Array.isArray(tags)) return undefined;
  let size = RCV_HEAD.length + arrayHeaderLength(tags.length);
  for (let i = 0; i < tags.length; i++) {
    const tag: unknown = tags[i];
    if (!isPlainUint(tag)) return undefined;
    size += uintLength(tag);
  }
  const out = allocate(size);
  let p = writeBytes(out, 0, RCV_HEAD);
  p = writeArrayHeader(out, p, tags.length);
  for (let i = 0; i < tags.length; i++) p = writeUint(out, p, tags[i] as number);
  return out.subarray(0, p);
}

function encodeAck(m: Record<string, unknown>): Uint8Array | undefined {
  const raw = m.data;
  if (raw !== undefined && !(raw instanceof Uint8Array)) return undefined;
  const data: Uint8Array | undefined = raw;
  if (!isPlainUint(m.tag) || !(data === undefined ? onlyKeys(m, 't', 'tag') : onlyKeys(m, 't', 'tag', 'data'))) return undefined;
  const size = 1 + T_ACK.length + TAG_KEY.length + uintLength(m.tag) + (data === undefined ? 0 : DATA_KEY.length + binHeaderLength(data.length) + data.length);
  const out = allocate(size);
  out[0] = data === undefined ? 0x82 : 0x83;
  let p = writeBytes(out, 1, T_ACK);
  p = writeBytes(out, p, TAG_KEY);
  p = writeUint(out, p, m.tag);
  if (data !== undefined) {
    p = writeBytes(out, p, DATA_KEY);
    p = writeBinHeader(out, p, data.length);
    p = writeBytes(out, p, data);
  }
  return out.subarray(0, p);
}

/** `m` has exactly these keys, with values that are not undefined (msgpackr would write those as nil). */
function onlyKeys(m: Record<string, unknown>, ...keys: string[]): boolean {
  let n = 0;
  for (const key in m) {
    if (!keys.includes(key) || m[key] === undefined) return false;
    n++;
  }
  return n === keys.length;
}

/** A uint msgpackr would write as one: -0 it writes as a float, so the generic encoder takes it. */
function isPlainUint(v: unknown): v is number {
  return isUint(v) && !Object.is(v, -0);
}
