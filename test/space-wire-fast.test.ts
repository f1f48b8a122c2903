/**
 * The space's shortcuts on the hot path of out -> in (issue 14): compiled templates shared by
 * equal templates (server/space/template-cache.ts), and the `tuple` answer written by hand
 * (server/space/tuple-frame.ts), which must be the bytes the generic encoder writes.
 */
import { msgpackCodec } from '../protocol/codec.js';
import { LindenError } from '../protocol/errors.js';
import { storedTuple } from '../server/space/stored-tuple.js';
import { TemplateCache } from '../server/space/template-cache.js';
import { compileTemplate, type Template } from '../server/space/template.js';
import { packTupleFrame, packValues } from '../server/space/tuple-frame.js';

describe('TemplateCache', () => {
  const counting = () => {
    let compiled = 0;
    const compile = (wire: unknown): Template => { compiled++; return compileTemplate(wire); };
    return { compile, count: () => compiled };
  };

  test('equal flat templates share one compiled template', () => {
    const cache = new TemplateCache();
    const { compile, count } = counting();
    const a = cache.get(['job', { $any: true }, { $type: 'string' }, 7, null, true], compile);
    const b = cache.get(['job', { $any: true }, { $type: 'string' }, 7, null, true], compile);
    expect(b).toBe(a);
    expect(count()).toBe(1);
    expect(b.matches(['job', 1, 's', 7, null, true])).toBe(true);
  });

  test('templates that differ anywhere get their own', () => {
    const cache = new TemplateCache();
    const { compile, count } = counting();
    const variants: unknown[][] = [
      ['job', { $any: true }], ['job', 1], ['job', '1'], ['job', true], ['job', null], [1, 'job'],
      ['job', { $eq: 1 }], ['job', { $type: 'number' }], ['job', { $regex: '^a' }], ['job', { $eq: '1' }], ['job'],
    ];
    const compiled = variants.map((v) => cache.get(v, compile));
    expect(new Set(compiled).size).toBe(variants.length);
    expect(count()).toBe(variants.length);
  });

  test('templates that never repeat are compiled every time, and match as compiled', () => {
    const cache = new TemplateCache();
    const { compile, count } = counting();
    for (let i = 0; i < 1_000; i++) {
      const t = cache.get(['reply', i, { $any: true }], compile);
      expect(t.matches(['reply', i, 'x'])).toBe(true);
      expect(t.matches(['reply', i + 1, 'x'])).toBe(false);
    }
    expect(count()).toBe(1_000);
  });

  test('a template it cannot keep is compiled every time', () => {
    const cache = new TemplateCache();
    const { compile, count } = counting();
    for (const wire of [[['nested']], [{ $in: [1, 2] }], [{ $range: { gt: 1 } }], [{ a: 1 }], [new Uint8Array([1])], ['x'.repeat(300)]]) {
      cache.get(wire, compile);
      cache.get(wire, compile);
    }
    expect(count()).toBe(12);
  });

  test('a refused template is refused again, and never answered by a kept one', () => {
    const cache = new TemplateCache();
    const compile = (wire: unknown) => compileTemplate(wire);
    cache.get(['a', { $eq: ' t' }], compile);
    for (const bad of [['a', { '$eq s': true }], ['a', { $any: false }], ['a', { $type: 'nope' }]]) {
      expect(() => cache.get(bad, compile)).toThrow(LindenError);
      expect(() => cache.get(bad, compile)).toThrow(LindenError);
    }
    // The template served last is matched field by field: a look-alike is not it.
    const any = cache.get(['a', { $any: true }], compile);
    expect(() => cache.get(['a', { $any: true, $eq: 1 }], compile)).toThrow(LindenError);
    expect(() => cache.get(['a', { $any: 1 }], compile)).toThrow(LindenError);
    expect(cache.get(['a', { $eq: true }], compile)).not.toBe(any);
    expect(cache.get(['a', { $any: true }], compile)).toBe(any);
  });

  test('the template served last answers only the same fields', () => {
    const cache = new TemplateCache();
    const { compile, count } = counting();
    const a = cache.get(['x', { $type: 'string' }, 1], compile);
    const b = cache.get(['x', { $type: 'number' }, 1], compile);
    const c = cache.get(['x', { $type: 'string' }, 2], compile);
    const d = cache.get(['x', { $type: 'string' }, 1, 1], compile);
    expect(new Set([a, b, c, d]).size).toBe(4);
    expect(cache.get(['x', { $type: 'string' }, 1], compile)).toBe(a);
    expect(count()).toBe(4);
    expect(a.matches(['x', 's', 1])).toBe(true);
    expect(b.matches(['x', 's', 1])).toBe(false);
  });
});

describe('packTupleFrame', () => {
  const generic = (frame: object) => Buffer.from(msgpackCodec.encode(frame) as Uint8Array);
  const cases: [string, ReturnType<typeof storedTuple>][] = [
    ['no lease', storedTuple(5, '5', 's', ['job', 1, 'payload'], Infinity)],
    ['a lease (a wide integer)', storedTuple(36, '10', 's', ['job', 2 ** 40, -(2 ** 40), 1.5, null, new Uint8Array([1, 2])], Date.now() + 60_000)],
    ['headers', storedTuple(1_000_000, 'lfls', 's', [{ a: [1, 'b'] }], Infinity, undefined, { trace: 'x', k: 'v' })],
  ];

  // msgpackr heads every map with a map16 (0xde) of its count; the hand-written frame uses the
  // fixmap of the same count. Every byte after the head must be the same.
  const entries = (bytes: Buffer) => (bytes[0] === 0xde ? { n: bytes.readUInt16BE(1), rest: bytes.subarray(3) } : { n: bytes[0]! & 0x0f, rest: bytes.subarray(1) });

  test.each(cases)('%s: the bytes of the generic encoder', (_name, t) => {
    for (const re of [0, 127, 128, 65_535, 4_294_967_295]) {
      for (const rid of [undefined, `${t.tid}.a`]) {
        const frame: Record<string, unknown> = { t: 'tuple', re, tid: t.tid, tuple: t.values, expiresAt: Number.isFinite(t.expiresAt) ? t.expiresAt : null };
        if (t.hdr !== undefined) frame.hdr = t.hdr;
        if (rid !== undefined) frame.rid = rid;
        const fast = Buffer.from(packTupleFrame(re, t, packValues(t.values), rid));
        expect(fast[0]! & 0xf0).toBe(0x80);
        expect(entries(fast)).toEqual(entries(generic(frame)));
        expect(msgpackCodec.decode(fast, true)).toEqual([frame]);
      }
    }
  });
});

