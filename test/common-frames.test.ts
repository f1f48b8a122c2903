/**
 * The hand-written paths for the frames that carry the traffic (issue 14) against the generic
 * ones they stand in for: decodeCommonFrame() against msgpackr, the common checks against the
 * ajv schemas, and the SDK's hand-written `pub` against what msgpackr reads from it. Random and
 * malformed frames from a fixed seed (FUZZ_SEED to try another).
 */
import fc from 'fast-check';
import { decodeMsgpackGeneric, msgpackCodec, packr } from '../protocol/codec.js';
import { decodeCommonFrame, FALLBACK } from '../protocol/common-frames.js';
import { commonFrameChecks } from '../protocol/common-checks.js';
import { encodeCommon } from '../protocol/common-encoders.js';
import { packStr } from '../protocol/frame-writer.js';
import { FrameValidator } from '../protocol/validate.js';
import { Outbox } from '../client-sdk/outbox.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_205);
const RUNS = Number(process.env.FUZZ_RUNS ?? 3_000);

const FIELDS = ['t', 'id', 're', 'sid', 'tag', 'tags', 'ack', 'topic', 'data', 'mid', 'reply', 'mode', 'ttl', 'timeout', 'hdr', 'dc',
  'stage', 'receivers', 'missing', 'rejected', 'queues', 'timedOut', 'connection', 'reason', 'retain', 'retained'];

/** Values near every edge the checks draw: limits, kinds, characters. */
const scalar: fc.Arbitrary<unknown> = fc.oneof(
  fc.nat({ max: 300 }), fc.nat(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null),
  fc.constantFrom(0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 31, 4_294_967_295, 4_294_967_296, 2 ** 53 + 2, -1, -0, 0.5, 1.0,
    2_073_600_000, 2_073_600_001, Number.NaN, Infinity),
  fc.constantFrom('pub', 'msg', 'rcv', 'ack', 'receipt', 'ping', 'none', 'submission', 'delivery', 'processing', 'transient',
    'persistent', 'bench.throughput', 'a', '', '__proto__', 'é', '\u0000x', '\u0004', '\u0005', '\ud800', '😀', 'x'.repeat(128),
    'x'.repeat(129), 'y'.repeat(1024), 'y'.repeat(1025), 'k'.repeat(64), 'k'.repeat(65)),
  fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 10 }), fc.string({ unit: 'binary', maxLength: 10 }),
  fc.uint8Array({ maxLength: 70 }),
  fc.constant(new Date(0)),
);

/** Header maps near their limits: 32 entries, names of 1-64 characters, values up to 1024. */
const headers: fc.Arbitrary<unknown> = fc.oneof(
  fc.dictionary(
    fc.constantFrom('a', 'b', 'traceparent', '__proto__', '', 'k'.repeat(64), 'k'.repeat(65), 'é', '😀'),
    fc.oneof({ weight: 4, arbitrary: fc.constantFrom('', 'v', 'y'.repeat(1024), 'y'.repeat(1025), 'é', '😀'.repeat(600)) }, scalar),
    { maxKeys: 5 },
  ),
  fc.integer({ min: 30, max: 34 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`h${i}`, 'v']))),
  scalar,
);

const value: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: scalar },
  { weight: 1, arbitrary: fc.array(fc.oneof(fc.nat(), scalar), { maxLength: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom([], [-1], [4_294_967_296], [0.5]) },
  { weight: 1, arbitrary: fc.array(fc.dictionary(fc.constantFrom('connection', 'sid', 'queue', 'reason', 'x'), scalar, { maxKeys: 3 }), { maxLength: 3 }) },
  { weight: 2, arbitrary: headers },
);

const pub = fc.record({
  t: fc.constant('pub'), topic: fc.constantFrom('a.b', 'a.c', 'b.b', 'bench.throughput', 'x'), data: fc.uint8Array({ maxLength: 20 }),
  id: fc.nat({ max: 10 }), ack: fc.constantFrom('none', 'delivery'), mid: fc.constantFrom('m-1', 'k'.repeat(128)),
  timeout: fc.integer({ min: 1, max: 5000 }), ttl: fc.constantFrom(1, 2_073_600_000), reply: fc.boolean(),
  mode: fc.constantFrom('transient', 'persistent'), retain: fc.boolean(),
  hdr: fc.oneof(fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }), headers),
}, { requiredKeys: ['t', 'topic', 'data'] });
const rcv = fc.record({ t: fc.constant('rcv'), tags: fc.array(fc.nat(), { minLength: 1, maxLength: 5 }) });
const ack = fc.record({ t: fc.constant('ack'), tag: fc.nat(), data: fc.uint8Array({ maxLength: 5 }) }, { requiredKeys: ['t', 'tag'] });
const msg = fc.record({
  sid: fc.nat(), tag: fc.nat(), ack: fc.constant('processing'), reply: fc.boolean(), dc: fc.nat({ max: 5 }), retained: fc.constant(true), t: fc.constant('msg'),
  topic: fc.constantFrom('a.b', 'b.b', 'bench.throughput'), mid: fc.constantFrom('Tnt3pONb-0', 'x'), data: fc.uint8Array({ maxLength: 20 }),
}, { requiredKeys: ['sid', 't', 'topic', 'mid', 'data'] });
const receipt = fc.record({
  t: fc.constant('receipt'), re: fc.nat(), mid: fc.constant('m'), stage: fc.constantFrom('submission', 'delivery', 'processing'),
  receivers: fc.nat(), timedOut: fc.boolean(), missing: fc.array(fc.record({ connection: fc.constant('c1'), sid: fc.nat() }), { maxLength: 2 }),
  rejected: fc.constant([]), queues: fc.array(fc.constantFrom('q1', 'q2'), { maxLength: 2 }), data: fc.uint8Array({ maxLength: 4 }),
});

/**
 * A message of a common type: mostly a well-formed one with one field replaced, dropped or
 * added (so each check meets its edges one at a time), sometimes fields at random.
 */
const message: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(fc.oneof(pub, pub, rcv, ack, msg, receipt), fc.option(fc.tuple(fc.constantFrom(...FIELDS, 'x', '__proto__'), fc.option(value, { freq: 8 })), { freq: 2 }))
    .map(([m, twist]) => {
      const out: Record<string, unknown> = { ...m };
      if (twist) {
        const [field, v] = twist;
        if (v === null) delete out[field];
        else Object.defineProperty(out, field, { value: v, enumerable: true, writable: true, configurable: true });
      }
      return out;
    }) },
  { weight: 1, arbitrary: fc.tuple(
    fc.constantFrom('pub', 'rcv', 'ack', 'msg', 'receipt', 'ping', 7),
    fc.array(fc.tuple(fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...FIELDS) }, fc.constantFrom('x', '__proto__', 'pattern')), value), { maxLength: 8 }),
  ).map(([t, entries]) => Object.fromEntries([['t', t], ...entries])) },
);

/** MessagePack with the header widths chosen at random (fixstr or str8, uint8 or uint64...), as other encoders write it. */
function encodeVaried(v: unknown, pick: () => number): Uint8Array {
  const out: number[] = [];
  const uint = (n: number, bytes: number) => { for (let i = bytes - 1; i >= 0; i--) out.push(Math.floor(n / 2 ** (8 * i)) & 0xff); };
  const header = (n: number, fix: number | undefined, fixMax: number, codes: number[]) => {
    const widths = [[1, 0xff], [2, 0xffff], [4, 0xffffffff]] as const;
    const choices: (() => void)[] = [];
    if (fix !== undefined && n <= fixMax) choices.push(() => out.push(fix | n));
    codes.forEach((code, i) => { if (code !== 0 && n <= widths[i]![1]) choices.push(() => { out.push(code); uint(n, widths[i]![0]); }); });
    choose(choices);
  };
  // Mostly the shortest form (the first), as most encoders write; now and then another.
  const choose = (forms: (() => void)[]) => { const p = pick(); forms[p < 12 ? 0 : p % forms.length]!(); };
  const write = (x: unknown): void => {
    if (x === null) out.push(0xc0);
    else if (typeof x === 'boolean') out.push(x ? 0xc3 : 0xc2);
    else if (typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0xffffffff && !Object.is(x, -0)) {
      const forms: (() => void)[] = [];
      if (x < 0x80) forms.push(() => out.push(x));
      if (x <= 0xff) forms.push(() => { out.push(0xcc); uint(x, 1); });
      if (x <= 0xffff) forms.push(() => { out.push(0xcd); uint(x, 2); });
      forms.push(() => { out.push(0xce); uint(x, 4); }, () => { out.push(0xcf); uint(x, 8); });
      choose(forms);
    } else if (typeof x === 'string') {
      const bytes = new TextEncoder().encode(x);
      header(bytes.length, 0xa0, 31, [0xd9, 0xda, 0xdb]);
      out.push(...bytes);
    } else if (x instanceof Uint8Array) {
      header(x.length, undefined, 0, [0xc4, 0xc5, 0xc6]);
      out.push(...x);
    } else if (Array.isArray(x)) {
      header(x.length, 0x90, 15, [0, 0xdc, 0xdd]);
      x.forEach(write);
    } else if (typeof x === 'object' && !(x instanceof Date)) {
      const entries = Object.entries(x as object);
      header(entries.length, 0x80, 15, [0, 0xde, 0xdf]);
      for (const [k, e] of entries) { write(k); write(e); }
    } else {
      out.push(...packr.pack(x)); // floats, negative numbers, dates
    }
  };
  write(v);
  return Uint8Array.from(out);
}

/** Damage: a byte changed, the end cut off, a byte added, a 0xc1 put in. */
const damage = fc.oneof(
  { weight: 2, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('flip', 'cut', 'extra', 'c1'), fc.nat(), fc.nat({ max: 255 })) },
);

function damaged(bytes: Uint8Array, how: ['flip' | 'cut' | 'extra' | 'c1', number, number] | null): Uint8Array {
  if (!how || bytes.length === 0) return bytes;
  const [kind, at, byte] = how;
  const i = at % bytes.length;
  const copy = Uint8Array.from(bytes);
  if (kind === 'flip') { copy[i] = byte; return copy; }
  if (kind === 'c1') { copy[i] = 0xc1; return copy; }
  if (kind === 'cut') return copy.subarray(0, i);
  return Uint8Array.from([...copy, byte]);
}

/** A value as comparable text: kinds, prototypes, key order and bytes all count. */
function shape(v: unknown): string {
  return JSON.stringify(tree(v));
}

function tree(v: unknown): unknown {
  if (v instanceof Uint8Array) return ['bytes', (Object.getPrototypeOf(v) as object).constructor.name, Array.from(v)];
  if (Array.isArray(v)) return ['array', v.map(tree)];
  if (v instanceof Date) return ['date', v.getTime()];
  if (typeof v === 'object' && v !== null) {
    const proto = Object.getPrototypeOf(v) as object | null;
    return ['object', proto === Object.prototype ? 'plain' : String(proto?.constructor.name), Object.entries(v).map(([k, e]) => [k, tree(e)])];
  }
  if (typeof v === 'number') return ['number', Object.is(v, -0) ? '-0' : String(v)];
  if (typeof v === 'bigint') return ['bigint', String(v)];
  return [typeof v, v];
}

function outcome<T>(fn: () => T): { ok: unknown } | { error: unknown } {
  try {
    return { ok: fn() };
  } catch (err) {
    const e = err as { code?: string; message: string; details?: unknown };
    return { error: [e.code, e.message, e.details] };
  }
}

const validators = { msgpack: new FrameValidator('msgpack'), json: new FrameValidator('json') };

/** check() (the common checks, then the schema) and the schema alone agree, and what the common checks accept the schema accepts. */
function sameVerdict(codec: 'msgpack' | 'json', m: unknown): void {
  const v = validators[codec];
  if (commonFrameChecks(codec).accepts(m)) expect(shape(outcome(() => v.checkBySchema(m)))).toBe(shape({ ok: m }));
  expect(shape(outcome(() => v.check(m)))).toBe(shape(outcome(() => v.checkBySchema(m))));
}

test(`the common-frame decoder and checks agree with msgpackr and ajv (seed ${SEED}, ${RUNS} runs)`, () => {
  let handled = 0;
  let accepted = 0;
  fc.assert(fc.property(
    fc.array(message, { minLength: 1, maxLength: 3 }), fc.boolean(), fc.infiniteStream(fc.nat({ max: 15 })), damage,
    (messages, bare, widths, how) => {
      const it = widths[Symbol.iterator]();
      const pick = () => it.next().value as number;
      const raw = damaged(encodeVaried(bare ? messages[0] : messages, pick), how);
      const fast = decodeCommonFrame(raw);
      if (fast !== FALLBACK) handled++;
      const decoded = outcome(() => msgpackCodec.decode(raw, true));
      const generic = outcome(() => decodeMsgpackGeneric(raw));
      expect(shape(decoded)).toBe(shape(generic));
      if ('ok' in decoded) {
        for (const m of decoded.ok as unknown[]) {
          if (commonFrameChecks('msgpack').accepts(m)) accepted++;
          sameVerdict('msgpack', m);
        }
      }
      // The same messages as a JSON client would send them.
      for (const m of messages) sameVerdict('json', JSON.parse(JSON.stringify(m, (_k, x: unknown) => (x instanceof Uint8Array ? { $bin: '' } : x))) as unknown);
    },
  ), { seed: SEED, numRuns: RUNS });
  // Both sides of the decoder and of the checks were exercised, not only the fallbacks.
  if (process.env.FUZZ_STATS) console.log({ handled, accepted });
  expect(handled).toBeGreaterThan(RUNS / 20);
  expect(accepted).toBeGreaterThan(RUNS / 10);
});

test('rcv at and beyond its 65,536 tags: the common check and the schema agree', () => {
  for (const n of [1, 65_536, 65_537]) {
    const m = { t: 'rcv', tags: Array.from({ length: n }, (_, i) => i) };
    sameVerdict('msgpack', m);
    sameVerdict('json', m);
    const raw = packr.pack([m]);
    expect(shape(msgpackCodec.decode(raw, true))).toBe(shape(decodeMsgpackGeneric(raw)));
  }
});

test('edge frames decode as msgpackr decodes them', () => {
  const proto = { a: 'b' };
  Object.defineProperty(proto, '__proto__', { value: 'v', enumerable: true, writable: true, configurable: true });
  const data = new Uint8Array([1, 2]);
  const frames = [
    [{ t: 'pub', topic: 'a', data, hdr: proto }],
    [{ t: 'pub', topic: 'température', data }],
    [{ t: 'pub', topic: 'a', data, id: 2 ** 32 }],
    [{ t: 'pub', topic: 'a', data, id: -1 }],
    [{ t: 'pub', topic: 'a', data, id: 1.5 }],
    [{ t: 'pub', topic: 'a', data, x: 1 }],
    [{ t: 'pub', topic: 'a', data, mid: new Date(0) }],
    [{ t: 'ping', id: 1 }],
    { t: 'rcv', tags: [1, 2] },
    [],
  ];
  for (const f of frames) {
    const raw = packr.pack(f);
    expect(shape(msgpackCodec.decode(raw, true))).toBe(shape(decodeMsgpackGeneric(raw)));
  }
});

test('protocol.md examples of pub, msg, rcv and ack decode by hand as msgpackr decodes them', () => {
  const examples = [
    'de 00 07 a1 74 a3 70 75 62 a2 69 64 03 a5 74 6f 70 69 63 af 73 65 6e 73 6f 72 73 2e 6b 31 2e 74 65 6d 70 a4 64 61 74 61 c4 14 de 00 01 a7 63 65 6c 73 69 75 73 cb 40 35 80 00 00 00 00 00 a3 61 63 6b a8 64 65 6c 69 76 65 72 79 a7 74 69 6d 65 6f 75 74 cd 07 d0 a3 6d 69 64 a7 6b 31 2d 30 30 30 31',
    'de 00 03 a1 74 a3 70 75 62 a5 74 6f 70 69 63 ab 66 69 6c 65 73 2e 63 68 75 6e 6b a4 64 61 74 61 c4 06 c4 04 00 01 02 ff',
    '88 a3 73 69 64 01 a3 74 61 67 04 a3 61 63 6b aa 70 72 6f 63 65 73 73 69 6e 67 a5 72 65 70 6c 79 c3 a1 74 a3 6d 73 67 a5 74 6f 70 69 63 a8 6d 61 74 68 2e 61 64 64 a3 6d 69 64 aa 54 6e 74 33 70 4f 4e 62 2d 30 a4 64 61 74 61 c4 09 de 00 02 a1 61 02 a1 62 03',
    'de 00 02 a1 74 a3 72 63 76 a4 74 61 67 73 93 01 02 03',
    'de 00 03 a1 74 a3 61 63 6b a3 74 61 67 04 a4 64 61 74 61 c4 08 de 00 01 a3 73 75 6d 05',
    // Retained (protocol.md §7.4): the retained publish and the retained delivery.
    'de 00 07 a1 74 a3 70 75 62 a5 74 6f 70 69 63 ad 73 74 61 74 75 73 2e 64 6f 6f 72 2d 31 a4 64 61 74 61 c4 07 a6 6f 6e 6c 69 6e 65 a6 72 65 74 61 69 6e c3 a4 6d 6f 64 65 aa 70 65 72 73 69 73 74 65 6e 74 a2 69 64 04 a3 61 63 6b aa 73 75 62 6d 69 73 73 69 6f 6e',
    '86 a3 73 69 64 05 a8 72 65 74 61 69 6e 65 64 c3 a1 74 a3 6d 73 67 a5 74 6f 70 69 63 ad 73 74 61 74 75 73 2e 64 6f 6f 72 2d 31 a3 6d 69 64 ab 58 71 32 76 39 4c 6d 41 2d 31 37 a4 64 61 74 61 c4 07 a6 6f 6e 6c 69 6e 65',
  ].map((hex) => Buffer.from(hex.replace(/ /g, ''), 'hex'));
  for (const raw of examples) {
    const fast = decodeCommonFrame(raw);
    expect(fast).not.toBe(FALLBACK);
    expect(shape(fast)).toBe(shape(decodeMsgpackGeneric(raw)));
  }
});

test('the SDK\'s hand-written publishes read back through msgpackr as the publish and its payload', () => {
  fc.assert(fc.property(
    fc.constantFrom('a', 'bench.throughput', 'orders.eu.created', 't'.repeat(300)),
    fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.constant(new Uint8Array(70_000)), fc.constant(Buffer.from('buffer'))),
    (topic, payload) => {
      const outbox = new Outbox(msgpackCodec, 1024 * 1024);
      outbox.publishMsgpack(packStr(topic), payload, true);
      outbox.publishMsgpack(packStr(topic), msgpackCodec.packData(payload) as Uint8Array);
      const frames: Uint8Array[] = [];
      outbox.drain((f) => frames.push(f as Uint8Array), () => { throw new Error('not large'); });
      expect(frames).toHaveLength(1);
      const messages = decodeMsgpackGeneric(frames[0]!) as { t: string; topic: string; data: Uint8Array }[];
      expect(messages).toHaveLength(2);
      for (const m of messages) {
        expect(Object.keys(m)).toEqual(['t', 'topic', 'data']);
        expect(m.t).toBe('pub');
        expect(m.topic).toBe(topic);
        // The payload's own encoding is what msgpackr makes of it: a bin of its bytes.
        expect(Buffer.from(m.data).equals(packr.pack(payload))).toBe(true);
        expect(Buffer.from(packr.unpack(m.data) as Uint8Array).equals(payload)).toBe(true);
      }
      const fast = msgpackCodec.decode(frames[0]!, true) as typeof messages;
      expect(fast.map((m) => [Object.keys(m), m.topic, Object.getPrototypeOf(m.data), Buffer.from(m.data).equals(messages[0]!.data)]))
        .toEqual(messages.map((m) => [Object.keys(m), m.topic, Object.getPrototypeOf(m.data), true]));
    },
  ), { seed: SEED, numRuns: 200 });
});

test('hand-written rcv and ack read back through msgpackr as the message; other shapes are left to msgpackr', () => {
  fc.assert(fc.property(
    fc.oneof(
      fc.record({ t: fc.constant('rcv'), tags: fc.array(fc.oneof(fc.nat(), fc.constantFrom(0, 127, 128, 255, 256, 65_535, 65_536, 4_294_967_295)), { maxLength: 20 }) }),
      fc.record({ t: fc.constant('ack'), tag: fc.oneof(fc.nat(), fc.constant(4_294_967_295)), data: fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.constant(new Uint8Array(70_000))) }, { requiredKeys: ['t', 'tag'] }),
      message,
    ),
    (m) => {
      const mine = encodeCommon(m);
      if (mine === undefined) return;
      // A bin is read back as a view of the frame, a Buffer in Node.
      const expected: Record<string, unknown> = { ...m };
      if (expected.data instanceof Uint8Array) expected.data = Buffer.from(expected.data);
      expect(shape(decodeMsgpackGeneric(mine))).toBe(shape([expected]));
      expect(shape(msgpackCodec.decode(mine, true))).toBe(shape([expected]));
    },
  ), { seed: SEED, numRuns: 300 });
  expect(encodeCommon({ t: 'rcv', tags: Array.from({ length: 70_000 }, (_, i) => i) })).toBeDefined();
  for (const other of [{ t: 'rcv', tags: [-1] }, { t: 'rcv', tags: [2 ** 32] }, { t: 'ack', tag: 1, data: undefined }, { t: 'ack', tag: 1, data: 'x' }, { t: 'ack', tag: 1.5 }, { t: 'nack', tag: 1 }]) {
    expect(encodeCommon(other)).toBeUndefined();
  }
});
