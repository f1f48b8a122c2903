/*
 * Hand-written validation of the messages that carry the traffic (`pub`, `rcv`, `ack`; issue 14).
 * Each check accepts only what the message's schema in frames.ts accepts, field by field; where
 * it is not sure (an unknown field, a value of another kind, a long or unusual string) it says no,
 * and the message goes through ajv, which then accepts it or names the error. So these checks
 * change how fast a valid message passes, never whether a message passes or which error it gets;
 * test/common-frames.test.ts compares them with the schemas on many random messages.
 */
import { ACK_LEVELS, DELIVERY_MODES } from './frames.js';
import { HEADER_LIMITS } from './headers.js';
import { MAX_DURATION_MS, MAX_MESSAGE_ID_LENGTH, MAX_TAGS_PER_RCV, isUint } from './limits.js';
import type { CodecName } from './version.js';

export interface CommonFrameChecks {
  /** True when `message` is a `pub`, `rcv` or `ack` its schema surely accepts. */
  accepts(message: unknown): boolean;
}

/** For MessagePack `data` must be a bin (the schema's `binary` keyword); JSON takes any value. */
export function commonFrameChecks(codec: CodecName): CommonFrameChecks {
  const isPayload = codec === 'msgpack' ? (data: unknown) => data instanceof Uint8Array : (data: unknown) => data !== undefined;
  return {
    accepts(message) {
      if (typeof message !== 'object' || message === null) return false;
      const t = (message as { t?: unknown }).t;
      if (t === 'pub') return isPub(message as Record<string, unknown>, isPayload);
      if (t === 'rcv') return isRcv(message as Record<string, unknown>);
      if (t === 'ack') return isAck(message as Record<string, unknown>, isPayload);
      return false;
    },
  };
}

function isPub(m: Record<string, unknown>, isPayload: (data: unknown) => boolean): boolean {
  for (const key in m) {
    const v = m[key];
    switch (key) {
      case 't': break;
      case 'topic': if (typeof v !== 'string') return false; break;
      case 'data': if (!isPayload(v)) return false; break;
      case 'id': if (v !== undefined && !isUint(v)) return false; break;
      case 'ack': if (v !== undefined && !(ACK_LEVELS as readonly unknown[]).includes(v)) return false; break;
      case 'timeout': case 'ttl': if (v !== undefined && !isDuration(v)) return false; break;
      case 'mid': if (v !== undefined && !isPlainMid(v)) return false; break;
      case 'reply': case 'retain': if (v !== undefined && typeof v !== 'boolean') return false; break;
      case 'mode': if (v !== undefined && !(DELIVERY_MODES as readonly unknown[]).includes(v)) return false; break;
      case 'hdr': if (v !== undefined && !isPlainHeaders(v)) return false; break;
      default: return false;
    }
  }
  return typeof m.topic === 'string' && m.data !== undefined;
}

function isRcv(m: Record<string, unknown>): boolean {
  for (const key in m) if (key !== 't' && key !== 'tags') return false;
  const tags = m.tags;
  if (!Array.isArray(tags) || tags.length < 1 || tags.length > MAX_TAGS_PER_RCV) return false;
  for (let i = 0; i < tags.length; i++) if (!isUint(tags[i])) return false;
  return true;
}

function isAck(m: Record<string, unknown>, isPayload: (data: unknown) => boolean): boolean {
  for (const key in m) {
    if (key === 't' || key === 'tag') continue;
    if (key !== 'data' || (m.data !== undefined && !isPayload(m.data))) return false;
  }
  return isUint(m.tag);
}


function isDuration(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_DURATION_MS;
}

/**
 * A `mid` of 1 to 128 UTF-16 units, none a control character U+0000-U+0004 or a surrogate: then
 * it is as many code points, which is what the schema's length counts, and its pattern holds.
 * A mid with characters beyond the BMP is left to the schema.
 */
function isPlainMid(v: unknown): boolean {
  if (typeof v !== 'string' || v.length < 1 || v.length > MAX_MESSAGE_ID_LENGTH) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c <= 0x04 || (c >= 0xd800 && c <= 0xdfff)) return false;
  }
  return true;
}

/** A plain map of at most 32 names of 1-64 UTF-16 units to strings of at most 1024: within HEADERS_SCHEMA however it counts. */
function isPlainHeaders(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Object.getPrototypeOf(v) !== Object.prototype) return false;
  let n = 0;
  for (const name in v) {
    if (++n > HEADER_LIMITS.maxEntries) return false;
    if (name.length < 1 || name.length > HEADER_LIMITS.maxKeyLength) return false;
    const value = (v as Record<string, unknown>)[name];
    if (typeof value !== 'string' || value.length > HEADER_LIMITS.maxValueLength) return false;
  }
  return true;
}
