import fc from 'fast-check';
import { packr } from '../../protocol/codec.js';
import type { CodecName } from '../../protocol/version.js';

/**
 * Hostile frames for the front-door fuzz test (issue 12): what a careless or malicious client
 * can put in one WebSocket frame. Each is the bytes or text to send and whether it goes as a
 * binary frame, so codec mismatches are part of the space.
 */
export interface HostileFrame {
  kind: string;
  data: Uint8Array | string;
  binary: boolean;
}

const TYPES = ['hello', 'ping', 'sub', 'unsub', 'pub', 'rcv', 'ack', 'nack', 'working', 'qcreate', 'qdelete', 'out', 'in', 'rd',
  'count', 'abort', 'notify', 'unnotify', 'renew', 'cancel', 'batch', 'settle', 'admin', 'frag', 'pong', 'unschedule', 'screate', 'sdelete'];

/** Values of every kind and size, including the ones that break naive code. */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(), fc.double(), fc.string({ maxLength: 40 }), fc.boolean(), fc.constant(null),
  fc.constantFrom(2 ** 31, 2 ** 32, 2 ** 53 + 2, -1, -(2 ** 53), 1e308, Number.NaN, Number.MAX_SAFE_INTEGER),
  fc.constantFrom('', '*', '>', 'a..b', '$regex', '__proto__', 'toString', 'x'.repeat(5000)),
  fc.uint8Array({ maxLength: 64 }),
  fc.array(fc.integer(), { maxLength: 5 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.integer(), { maxKeys: 4 }),
);

/** A plausible message of a known type with random fields: the validators' inputs. */
const mutatedMessage = fc.record({
  t: fc.oneof(fc.constantFrom(...TYPES), anyValue),
  id: fc.option(anyValue, { nil: undefined }),
  sid: fc.option(anyValue, { nil: undefined }),
  topic: fc.option(fc.oneof(fc.constantFrom('a.b', 'orders.>', 'x'), anyValue), { nil: undefined }),
  pattern: fc.option(anyValue, { nil: undefined }),
  space: fc.option(fc.oneof(fc.constant('s'), anyValue), { nil: undefined }),
  tuple: fc.option(fc.oneof(fc.array(anyValue, { maxLength: 4 }), anyValue), { nil: undefined }),
  template: fc.option(fc.oneof(fc.array(anyValue, { maxLength: 4 }), anyValue), { nil: undefined }),
  data: fc.option(anyValue, { nil: undefined }),
  hdr: fc.option(anyValue, { nil: undefined }),
  tag: fc.option(anyValue, { nil: undefined }),
  ttl: fc.option(anyValue, { nil: undefined }),
  timeout: fc.option(anyValue, { nil: undefined }),
  ackWait: fc.option(anyValue, { nil: undefined }),
  delay: fc.option(anyValue, { nil: undefined }),
  // Issue 17's fields: schedules, retained values, streams and their readers.
  deliverAt: fc.option(anyValue, { nil: undefined }),
  sched: fc.option(anyValue, { nil: undefined }),
  retain: fc.option(anyValue, { nil: undefined }),
  retained: fc.option(anyValue, { nil: undefined }),
  name: fc.option(fc.oneof(fc.constant('log'), anyValue), { nil: undefined }),
  stream: fc.option(fc.oneof(fc.constant('log'), anyValue), { nil: undefined }),
  start: fc.option(fc.oneof(fc.constantFrom('first', 'last', 'new'), fc.record({ seq: anyValue }), fc.record({ time: anyValue }), anyValue), { nil: undefined }),
  reader: fc.option(anyValue, { nil: undefined }),
}, { requiredKeys: ['t'] }).map((m) => Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined)));

function encode(codec: CodecName, value: unknown): { data: Uint8Array | string; binary: boolean } {
  if (codec === 'msgpack') return { data: packr.pack(value), binary: true };
  try {
    return { data: JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v instanceof Uint8Array ? { $bin: '' } : v)) ?? 'null', binary: false };
  } catch {
    return { data: '{}', binary: false };
  }
}

function nested(depth: number, codec: CodecName): HostileFrame {
  if (codec === 'msgpack') {
    const bytes = new Uint8Array(depth + 1).fill(0x91);
    bytes[depth] = 0xc0;
    return { kind: 'deep', data: bytes, binary: true };
  }
  return { kind: 'deep', data: '['.repeat(depth) + ']'.repeat(depth), binary: false };
}

/** MessagePack headers that declare far more than follows. */
const LYING_HEADERS = [
  [0xdb, 0xff, 0xff, 0xff, 0xff], // str32 of 4 GiB
  [0xc6, 0x7f, 0xff, 0xff, 0xff], // bin32 of 2 GiB
  [0xdd, 0xff, 0xff, 0xff, 0xff], // array32 of 4G elements
  [0xdf, 0xff, 0xff, 0xff, 0xff], // map32 of 4G entries
  [0x81, 0xa1, 0x74, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // {t: uint64 max}
  [0x81, 0xa1, 0x74, 0xc7, 0x05, 0x01, 0, 0, 0, 0, 0], // {t: ext 1}
  [0xc1],
];

export function hostileFrame(codec: CodecName): fc.Arbitrary<HostileFrame> {
  return fc.oneof(
    mutatedMessage.map((m) => ({ kind: 'mutated', ...encode(codec, m) })),
    fc.array(mutatedMessage, { minLength: 2, maxLength: 50 }).map((ms) => ({ kind: 'batch', ...encode(codec, ms) })),
    fc.integer({ min: 1_000, max: 20_000 }).map((n) => ({ kind: 'many', ...encode(codec, Array.from({ length: n }, () => ({ t: 'ping', id: 1 }))) })),
    fc.uint8Array({ minLength: 1, maxLength: 200 }).map((data) => ({ kind: 'garbage', data, binary: codec === 'msgpack' })),
    fc.tuple(mutatedMessage, fc.nat()).map(([m, cut]) => {
      const whole = packr.pack(m);
      return { kind: 'truncated', data: whole.subarray(0, cut % Math.max(1, whole.length)), binary: true };
    }),
    fc.constantFrom(...LYING_HEADERS).map((h) => ({ kind: 'lying-length', data: Uint8Array.from(h), binary: true })),
    fc.integer({ min: 100, max: 20_000 }).map((depth) => nested(depth, codec)),
    fc.constant({ kind: 'bad-utf8', data: Uint8Array.from([0x5b, 0x22, 0xff, 0xfe, 0x22, 0x5d]), binary: false }),
    fc.constant({ kind: 'wrong-frame-kind', ...(codec === 'msgpack' ? { data: '[{"t":"ping","id":1}]', binary: false } : { data: packr.pack([{ t: 'ping', id: 1 }]), binary: true }) }),
    fc.integer({ min: 10_000, max: 600_000 }).map((n) => ({ kind: 'huge-string', ...encode(codec, { t: 'pub', topic: 'x'.repeat(n), data: codec === 'msgpack' ? packr.pack(1) : 1 }) })),
  );
}
