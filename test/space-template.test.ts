/**
 * The tuple-space value model (server/space/values.ts) and template compiler
 * (server/space/template.ts): equality, canonical keys, every operator, and every way a
 * template or a tuple is refused, with its code and field path.
 */
import { LindenError } from '../protocol/errors.js';
import { RE2JS } from 're2js';
import { regexSize, translateUnicodeEscapes } from '../server/space/regex-operator.js';
import { compileTemplate, validateTuple, type Template } from '../server/space/template.js';
import { canonicalKey, deepEqual, indexKey, typeOf } from '../server/space/values.js';

const bin = (...bytes: number[]) => new Uint8Array(bytes);
const t = (template: unknown[], limits?: Parameters<typeof compileTemplate>[1]): Template => compileTemplate(template, limits);
const matches = (template: unknown[], tuple: unknown[]) => t(template).matches(tuple);
/** Whether two index keys find one Map entry (SameValueZero). */
const sameIndexKey = (a: unknown, b: unknown) => new Set([indexKey(a)]).has(indexKey(b));
/** An equality as the template offers it to the index. */
const eq = (position: number, value: unknown) => ({ position, key: indexKey(value), value });

/** The LindenError a call throws, as { code, field } (field undefined when there is none). */
function rejection(fn: () => unknown): { code: string; field: unknown } {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(LindenError);
    const err = e as LindenError;
    expect(err.message.length).toBeGreaterThan(0);
    return { code: err.code, field: err.details?.field };
  }
  throw new Error('expected a LindenError, nothing was thrown');
}

const messageOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('nothing was thrown');
};

describe('typeOf', () => {
  test('names every kind of value; bigint is a number, Buffer is binary', () => {
    expect(typeOf(null)).toBe('null');
    expect(typeOf(false)).toBe('boolean');
    expect(typeOf(1.5)).toBe('number');
    expect(typeOf(10n)).toBe('number');
    expect(typeOf('')).toBe('string');
    expect(typeOf(bin(1))).toBe('binary');
    expect(typeOf(Buffer.from('x'))).toBe('binary');
    expect(typeOf([])).toBe('array');
    expect(typeOf({})).toBe('object');
  });
});

describe('deepEqual, canonicalKey and indexKey', () => {
  const equalPairs: [string, unknown, unknown][] = [
    ['1 and 1.0', 1, 1.0],
    ['0 and -0', 0, -0],
    ['NaN and NaN', NaN, NaN],
    ['bigint and number', 5n, 5],
    ['negative bigint and number', -7n, -7],
    ['2^53 as bigint and number', 2n ** 53n, 2 ** 53],
    ['2^60 as bigint and number', 2n ** 60n, 2 ** 60],
    ['10^21 as bigint and number', 10n ** 21n, 1e21],
    ['0n and -0', 0n, -0],
    ['Infinity', Infinity, Infinity],
    ['objects in any key order', { a: 1, b: [1, 2] }, { b: [1, 2], a: 1 }],
    ['nested objects in any key order', { x: { p: 1, q: 2 } }, { x: { q: 2, p: 1 } }],
    ['Buffer and Uint8Array with the same bytes', Buffer.from([1, 2, 3]), bin(1, 2, 3)],
    ['empty binaries', bin(), Buffer.alloc(0)],
    ['arrays holding 1 and 1n', [1, 'a'], [1n, 'a']],
    ['empty arrays', [], []],
    ['empty objects', {}, {}],
    ['object with a null prototype and a plain object', Object.assign(Object.create(null), { a: 1 }), { a: 1 }],
  ];
  const unequalPairs: [string, unknown, unknown][] = [
    ['null and 0', null, 0],
    ['null and empty string', null, ''],
    ['null and false', null, false],
    ['0 and false', 0, false],
    ['1 and true', 1, true],
    ['1 and "1"', 1, '1'],
    ['"" and []', '', []],
    ['binary and array of the same numbers', bin(1, 2), [1, 2]],
    ['binary and string of the same bytes', Buffer.from('ab'), 'ab'],
    ['binaries of different length', bin(1, 2), bin(1, 2, 0)],
    ['binaries with different bytes', bin(1, 2), bin(1, 3)],
    ["['a,b'] and ['a', 'b']", ['a,b'], ['a', 'b']],
    ["['a', 'b'] and ['ab']", ['a', 'b'], ['ab']],
    ['a string that looks like a key', ['1:sa'], ['a']],
    ['[[1], 2] and [1, [2]]', [[1], 2], [1, [2]]],
    ['[] and {}', [], {}],
    ['[1] and {0: 1}', [1], { 0: 1 }],
    ['objects with different keys', { a: 1 }, { b: 1 }],
    ['an object with an extra key', { a: 1 }, { a: 1, b: 2 }],
    ['object keys that could blur with values', { ab: 'c' }, { a: 'bc' }],
    ['2^53+1 as bigint and 2^53', 2n ** 53n + 1n, 2 ** 53],
    ['a bigint and the double that prints its digits', 123456789012345680000n, 123456789012345680000],
    ['1.5 and 1n', 1.5, 1n],
    ['NaN and 0', NaN, 0],
    ['string "NaN" and NaN', 'NaN', NaN],
    ['Infinity and -Infinity', Infinity, -Infinity],
    ['"true" and true', 'true', true],
    ['a string that looks like an array\'s index key', '\u0000a2:n1', [1]],
    ['a string that looks like an escaped string', '\u0000sx', '\u0000x'],
    ['empty string and null', '', null],
    ['a string and the number it prints', '5', 5],
  ];

  test.each(equalPairs)('%s are equal and share a key', (_name, a, b) => {
    expect(deepEqual(a, b)).toBe(true);
    expect(deepEqual(b, a)).toBe(true);
    expect(canonicalKey(a)).toBe(canonicalKey(b));
    expect(sameIndexKey(a, b)).toBe(true);
  });

  test.each(unequalPairs)('%s differ and so do their keys', (_name, a, b) => {
    expect(deepEqual(a, b)).toBe(false);
    expect(deepEqual(b, a)).toBe(false);
    expect(canonicalKey(a)).not.toBe(canonicalKey(b));
    expect(sameIndexKey(a, b)).toBe(false);
  });

  test('keys agree with deepEqual over every pair of a mixed list', () => {
    const values = [...equalPairs, ...unequalPairs].flatMap(([, a, b]) => [a, b]);
    for (const a of values) {
      for (const b of values) {
        expect({ a, b, equal: canonicalKey(a) === canonicalKey(b) }).toEqual({ a, b, equal: deepEqual(a, b) });
        expect({ a, b, equal: sameIndexKey(a, b) }).toEqual({ a, b, equal: deepEqual(a, b) });
      }
    }
  });

  test('scalar keys are short and cheap', () => {
    expect(canonicalKey('abc')).toBe('sabc');
    expect(canonicalKey(42)).toBe('n42');
    expect(canonicalKey(42n)).toBe('n42');
    expect(canonicalKey(-0)).toBe('n0');
    expect(canonicalKey(true)).toBe('t');
    expect(canonicalKey(false)).toBe('f');
    expect(canonicalKey(null)).toBe('z');
  });

  test('undefined is not a value', () => {
    expect(deepEqual(undefined, undefined)).toBe(false);
    expect(() => canonicalKey(undefined)).toThrow(TypeError);
  });
});

describe('actual values', () => {
  test('null is a value, not a wildcard', () => {
    expect(matches([null], [null])).toBe(true);
    expect(matches([null], [0])).toBe(false);
    expect(matches([null], [''])).toBe(false);
    expect(matches([null], [false])).toBe(false);
    expect(matches([null], [[]])).toBe(false);
  });

  test('numbers match by value: 1 is 1.0, bigints equal numbers, -0 is 0, NaN is NaN', () => {
    expect(matches([1], [1.0])).toBe(true);
    expect(matches([1], [1n])).toBe(true);
    expect(matches([1n], [1])).toBe(true);
    expect(matches([2n ** 60n], [2 ** 60])).toBe(true);
    expect(matches([2n ** 53n + 1n], [2 ** 53])).toBe(false);
    expect(matches([0], [-0])).toBe(true);
    expect(matches([NaN], [NaN])).toBe(true);
    expect(matches([NaN], [0])).toBe(false);
    expect(matches([1], ['1'])).toBe(false);
    expect(matches([1], [true])).toBe(false);
  });

  test('strings, booleans and arity', () => {
    expect(matches(['a', true], ['a', true])).toBe(true);
    expect(matches(['a', true], ['a', false])).toBe(false);
    expect(matches(['a', true], ['a'])).toBe(false);
    expect(matches(['a'], ['a', true])).toBe(false);
  });

  test('objects match regardless of key order, but need the same keys', () => {
    expect(matches([{ a: 1, b: 2 }], [{ b: 2, a: 1 }])).toBe(true);
    expect(matches([{ a: 1 }], [{ a: 1, b: 2 }])).toBe(false);
    expect(matches([{ a: 1, b: 2 }], [{ a: 1 }])).toBe(false);
  });

  test('binary equals only binary with the same bytes', () => {
    expect(matches([bin(1, 2)], [Buffer.from([1, 2])])).toBe(true);
    expect(matches([bin(1, 2)], [[1, 2]])).toBe(false);
    expect(matches([[1, 2]], [bin(1, 2)])).toBe(false);
    expect(matches([Buffer.from('ab')], ['ab'])).toBe(false);
    expect(matches([bin(1, 2)], [bin(1, 2, 3)])).toBe(false);
  });

  test('arrays match element-wise', () => {
    expect(matches([[1, 'a', [null]]], [[1.0, 'a', [null]]])).toBe(true);
    expect(matches([[1, 'a']], [[1, 'a', 2]])).toBe(false);
    expect(matches([['a,b']], [['a', 'b']])).toBe(false);
  });

  test('top-level actual values are offered to the equality index', () => {
    const tpl = t(['job', { $any: true }, 5, [1, 2], { a: 1 }, { $eq: 'x' }]);
    expect(tpl.arity).toBe(6);
    expect(tpl.equalities).toEqual([eq(0, 'job'), eq(2, 5), eq(3, [1, 2]), eq(4, { a: 1 }), eq(5, 'x')]);
    expect(tpl.types).toEqual([]);
    expect(tpl.inKeys).toEqual([]);
  });
});

describe('operators', () => {
  test('$any matches every value, null included', () => {
    for (const v of [null, 0, '', false, [], {}, bin(), 3n]) expect(matches([{ $any: true }], [v])).toBe(true);
    expect(matches(['a', { $any: true }], ['a'])).toBe(false);
    expect(t([{ $any: true }]).equalities).toEqual([]);
  });

  test('$type tests each type; integer is an integral number or a bigint', () => {
    const cases: [string, unknown[], unknown[]][] = [
      ['string', ['', 'x'], [1, null, bin(1)]],
      ['number', [1, 1.5, NaN, 7n], ['1', null, true]],
      ['integer', [1, 1.0, -3, 7n, 2 ** 60], [1.5, NaN, Infinity, '1']],
      ['boolean', [true, false], [0, 'true', null]],
      ['null', [null], [0, '', false, []]],
      ['binary', [bin(1), Buffer.from('x')], [[1], 'x']],
      ['array', [[], [1, 2]], [{}, bin(1), 'a']],
      ['object', [{}, { a: 1 }], [[], null, bin(1)]],
    ];
    for (const [type, yes, no] of cases) {
      const tpl = t([{ $type: type }]);
      for (const v of yes) expect({ type, v, match: tpl.matches([v]) }).toEqual({ type, v, match: true });
      for (const v of no) expect({ type, v, match: tpl.matches([v]) }).toEqual({ type, v, match: false });
    }
  });

  test('top-level $type fields are offered to the type index, integer as number', () => {
    const tpl = t([{ $type: 'string' }, { $type: 'integer' }, 1]);
    expect(tpl.types).toEqual([{ position: 0, type: 'string' }, { position: 1, type: 'number' }]);
    expect(tpl.equalities).toEqual([eq(2, 1)]);
  });

  test('$range over numbers honours each bound, compares bigints exactly, and skips other types', () => {
    const r = (range: Record<string, unknown>, v: unknown) => matches([{ $range: range }], [v]);
    expect(r({ gt: 5 }, 5)).toBe(false);
    expect(r({ gt: 5 }, 5.01)).toBe(true);
    expect(r({ gte: 5 }, 5)).toBe(true);
    expect(r({ lt: 5 }, 5)).toBe(false);
    expect(r({ lt: 5 }, 4.99)).toBe(true);
    expect(r({ lte: 5 }, 5)).toBe(true);
    expect(r({ gte: 1, lt: 10 }, 10)).toBe(false);
    expect(r({ gte: 1, lt: 10 }, 1)).toBe(true);
    expect(r({ gte: 1, lt: 10 }, 9n)).toBe(true);
    expect(r({ gt: 2n ** 60n }, 2 ** 60)).toBe(false);
    expect(r({ gte: 2n ** 60n }, 2 ** 60)).toBe(true);
    expect(r({ gt: 4, gte: 5 }, 4.5)).toBe(false); // both bounds apply
    expect(r({ gt: 5, gte: 5 }, 5)).toBe(false);
    expect(r({ lt: 5, lte: 4 }, 4.5)).toBe(false);
    expect(r({ gte: 0 }, NaN)).toBe(false);
    expect(r({ gte: 0 }, '5')).toBe(false);
    expect(r({ gte: 0 }, null)).toBe(false);
    expect(r({ gte: 0 }, true)).toBe(false);
    expect(r({ gte: 0 }, [5])).toBe(false);
  });

  test('$range over strings compares by code unit and skips numbers', () => {
    const tpl = t([{ $range: { gte: 'b', lt: 'd' } }]);
    expect(tpl.matches(['b'])).toBe(true);
    expect(tpl.matches(['czz'])).toBe(true);
    expect(tpl.matches(['d'])).toBe(false);
    expect(tpl.matches(['a'])).toBe(false);
    expect(tpl.matches([2])).toBe(false);
  });

  test('$in matches any listed value by deepEqual and offers deduplicated keys to the index', () => {
    const tpl = t([{ $in: ['a', 1, null, [1, 2], { k: 1 }, 1.0, 1n, bin(9)] }]);
    for (const v of ['a', 1, 1n, null, [1, 2], { k: 1 }, bin(9), Buffer.from([9])]) expect(tpl.matches([v])).toBe(true);
    for (const v of ['b', 2, 0, '', [1], { k: 2 }, [9], false]) expect(tpl.matches([v])).toBe(false);
    expect(tpl.inKeys).toEqual([{ position: 0, keys: ['a', 1, null, [1, 2], { k: 1 }, bin(9)].map(indexKey) }]);

    const strings = t(['x', { $in: ['a', 'b', 'a'] }]);
    expect(strings.matches(['x', 'b'])).toBe(true);
    expect(strings.matches(['x', 'c'])).toBe(false);
    expect(strings.inKeys).toEqual([{ position: 1, keys: ['a', 'b'] }]);
  });

  test('$regex matches strings only, by code point', () => {
    const tpl = t([{ $regex: '^job-\\d+$' }]);
    expect(tpl.matches(['job-12'])).toBe(true);
    expect(tpl.matches(['job-x'])).toBe(false);
    expect(tpl.matches([12])).toBe(false);
    expect(tpl.matches([Buffer.from('job-12')])).toBe(false);
    expect(tpl.matches([['job-12']])).toBe(false);
    expect(matches([{ $regex: '^.$' }], ['😀'])).toBe(true); // one code point, two code units
    expect(matches([{ $regex: '\\p{Lu}' }], ['É'])).toBe(true);
    // RE2's inline flags: case-insensitive, dot matches newline, multi-line.
    expect(matches([{ $regex: '(?i)^JOB' }], ['job-1'])).toBe(true);
    expect(matches([{ $regex: '(?s)^a.b$' }], ['a\nb'])).toBe(true);
    expect(matches([{ $regex: '^a.b$' }], ['a\nb'])).toBe(false);
    expect(matches([{ $regex: '(?m)^b$' }], ['a\nb'])).toBe(true);
    // No state kept between matches (no g flag).
    expect([1, 2, 3].map(() => tpl.matches(['job-1']))).toEqual([true, true, true]);
  });

  test('$eq matches its value literally, even one that looks like an operator', () => {
    expect(matches([{ $eq: 5 }], [5])).toBe(true);
    expect(matches([{ $eq: null }], [null])).toBe(true);
    expect(matches([{ $eq: { kind: 'a' } }], [{ kind: 'a' }])).toBe(true);
    const op = t([{ $eq: { $any: true } }]);
    expect(op.matches([{ $any: true }])).toBe(true);
    expect(op.matches(['anything'])).toBe(false);
    expect(op.equalities).toEqual([eq(0, { $any: true })]);
  });
});

describe('nested templates', () => {
  test('operators inside an array field', () => {
    const tpl = t([[1, { $any: true }]]);
    expect(tpl.matches([[1, 'x']])).toBe(true);
    expect(tpl.matches([[1.0, null]])).toBe(true);
    expect(tpl.matches([[2, 'x']])).toBe(false);
    expect(tpl.matches([[1]])).toBe(false);
    expect(tpl.matches([[1, 'x', 3]])).toBe(false);
    expect(tpl.matches([{ 0: 1, 1: 'x' }])).toBe(false);
    expect(tpl.equalities).toEqual([]);
  });

  test('operators inside an object field: same key set, values matched', () => {
    const tpl = t([{ kind: 'job', prio: { $range: { gte: 5 } } }]);
    expect(tpl.matches([{ kind: 'job', prio: 5 }])).toBe(true);
    expect(tpl.matches([{ prio: 9, kind: 'job' }])).toBe(true);
    expect(tpl.matches([{ kind: 'job', prio: 4 }])).toBe(false);
    expect(tpl.matches([{ kind: 'job' }])).toBe(false);
    expect(tpl.matches([{ kind: 'job', prio: 5, extra: 1 }])).toBe(false);
    expect(tpl.matches([{ kind: 'job', other: 5 }])).toBe(false);
    expect(tpl.matches([[{ kind: 'job', prio: 5 }]])).toBe(false);
  });

  test('deeper nesting: arrays in objects in arrays', () => {
    const tpl = t(['order', [{ id: { $type: 'integer' }, tags: [{ $regex: '^eu' }, { $any: true }] }]]);
    expect(tpl.matches(['order', [{ id: 3n, tags: ['eu-west', null] }]])).toBe(true);
    expect(tpl.matches(['order', [{ id: 3.5, tags: ['eu-west', null] }]])).toBe(false);
    expect(tpl.matches(['order', [{ id: 3, tags: ['us-east', null] }]])).toBe(false);
    expect(tpl.equalities).toEqual([eq(0, 'order')]);
  });

  test('an array or object without operators is an actual value', () => {
    expect(t([[1, [2, { a: null }]]]).equalities).toEqual([eq(0, [1, [2, { a: null }]])]);
  });

  test('$eq escapes inside an object', () => {
    const tpl = t([{ a: { $eq: [1] }, b: { $any: true } }]);
    expect(tpl.matches([{ a: [1], b: 0 }])).toBe(true);
    expect(tpl.matches([{ a: [2], b: 0 }])).toBe(false);
  });
});

describe('invalid templates', () => {
  const cases: [string, unknown, Parameters<typeof compileTemplate>[1], string | undefined][] = [
    ['not an array', { a: 1 }, undefined, undefined],
    ['a string', 'x', undefined, undefined],
    ['empty', [], undefined, undefined],
    ['too many fields', [1, 2, 3], { maxArity: 2 }, undefined],
    ['an undefined field', [1, undefined], undefined, '1'],
    ['a function', [() => 1], undefined, '0'],
    ['a symbol', [Symbol('x')], undefined, '0'],
    ['a Date', [new Date(0)], undefined, '0'],
    ['a Map', [new Map()], undefined, '0'],
    ['nesting too deep', [[[[1]]]], { maxDepth: 3 }, '0.0.0'],
    ['an unknown operator', ['a', { $foo: 1 }], undefined, '1'],
    ['an operator mixed with other keys', [{ $any: true, x: 1 }], undefined, '0'],
    ['two operators', [{ $any: true, $type: 'string' }], undefined, '0'],
    ['$any: false', [{ $any: false }], undefined, '0'],
    ['$any: 1', [{ $any: 1 }], undefined, '0'],
    ['an unknown $type', [{ $type: 'date' }], undefined, '0'],
    ['$type not a string', [{ $type: 1 }], undefined, '0'],
    ['$range without bounds', [{ $range: {} }], undefined, '0'],
    ['$range not an object', [{ $range: 5 }], undefined, '0'],
    ['$range with an unknown bound', [{ $range: { gt: 1, ne: 2 } }], undefined, '0'],
    ['$range with mixed bound types', [{ $range: { gt: 1, lt: 'z' } }], undefined, '0'],
    ['$range with a boolean bound', [{ $range: { gt: true } }], undefined, '0'],
    ['$range with a NaN bound', [{ $range: { gt: NaN } }], undefined, '0'],
    ['$range with a null bound', [{ $range: { lt: null } }], undefined, '0'],
    ['$in empty', [{ $in: [] }], undefined, '0'],
    ['$in not an array', [{ $in: 'abc' }], undefined, '0'],
    ['$in too long', [{ $in: [1, 2, 3] }], { maxInValues: 2 }, '0'],
    ['$in holding an operator', [{ $in: [{ $any: true }] }], undefined, '0'],
    ['$in holding undefined', [1, { $in: [1, undefined] }], undefined, '1'],
    ['$regex not a string', [{ $regex: 5 }], undefined, '0'],
    ['$regex too long', [{ $regex: 'a'.repeat(11) }], { maxRegexLength: 10 }, '0'],
    ['$regex invalid', [{ $regex: '(' }], undefined, '0'],
    ['$regex with an unknown escape', [{ $regex: '\\q' }], undefined, '0'],
    ['$regex too large', [{ $regex: 'a{5}' }], { maxRegexSize: 4 }, '0'],
    ['one $regex too many', ['x', { $regex: 'a' }, [{ $regex: 'b' }]], { maxRegexes: 1 }, '2.0'],
    ['$eq holding undefined', [{ $eq: undefined }], undefined, '0'],
    ['a bad operator nested in an object', ['x', { kind: 'job', prio: { $range: {} } }], undefined, '1.prio'],
    ['a bad operator nested in an array', [[1, { $nope: 1 }]], undefined, '0.1'],
    ['undefined nested in an array', [[1, [undefined]]], undefined, '0.1.0'],
  ];

  test.each(cases)('%s', (_name, template, limits, field) => {
    expect(rejection(() => compileTemplate(template, limits))).toEqual({ code: 'INVALID_TEMPLATE', field });
  });

  test('messages say what is wrong', () => {
    expect(messageOf(() => compileTemplate([{ $foo: 1 }]))).toMatch(/unknown operator "\$foo"/);
    expect(messageOf(() => compileTemplate([{ $in: [1, 2, 3] }], { maxInValues: 2 }))).toMatch(/at most 2/);
    expect(messageOf(() => compileTemplate([{ $regex: '(a)\\1' }]))).toMatch(/backreferences \(\\1, \\k<name>\) are not supported/);
    expect(messageOf(() => compileTemplate([{ $regex: 'a(?!b)' }]))).toMatch(/lookahead and lookbehind/);
    expect(messageOf(() => compileTemplate([{ $regex: '[a' }]))).toBe('$regex pattern is not valid RE2 syntax: missing closing ]: `[a`');
    expect(messageOf(() => compileTemplate([{ $regex: 'x{1,300}' }]))).toBe(
      '$regex pattern is too large: its size is 599, at most 512 is allowed (a counted repetition like x{100} counts every copy)',
    );
    expect(messageOf(() => compileTemplate(Array.from({ length: 17 }, () => ({ $regex: 'a' })), { maxArity: 17 }))).toBe(
      'a template holds at most 16 $regex operators',
    );
    // An error echoes only a short piece of the pattern.
    expect(messageOf(() => compileTemplate([{ $regex: '(?<' + 'n'.repeat(200) }])).length).toBeLessThan(120);
  });

  test('limits default to 256 $in values, 256-character patterns of size 512, 16 patterns a template', () => {
    expect(() => compileTemplate([{ $in: Array.from({ length: 256 }, (_, i) => i) }])).not.toThrow();
    expect(rejection(() => compileTemplate([{ $in: Array.from({ length: 257 }, (_, i) => i) }])).code).toBe('INVALID_TEMPLATE');
    expect(() => compileTemplate([{ $regex: 'a'.repeat(256) }])).not.toThrow();
    expect(rejection(() => compileTemplate([{ $regex: 'a'.repeat(257) }])).code).toBe('INVALID_TEMPLATE');
    expect(() => compileTemplate([{ $regex: '.{512}' }])).not.toThrow();
    expect(rejection(() => compileTemplate([{ $regex: '.{513}' }])).code).toBe('INVALID_TEMPLATE');
    expect(() => compileTemplate(Array.from({ length: 16 }, () => ({ $regex: 'a' })))).not.toThrow();
  });
});

describe('regexes run on RE2', () => {
  // Patterns a backtracking engine takes exponential or polynomial time on, with such a string.
  const adversarial: [string, string, boolean][] = [
    ['(a+)+$', 'a'.repeat(30_000) + '!', false],
    ['(a*)*b', 'a'.repeat(30_000), false],
    ['(a|a)*b', 'a'.repeat(30_000), false],
    ['(a|aa)+$', 'a'.repeat(30_000), true],
    ['(x+x+)+y', 'x'.repeat(30_000), false],
    ['a*a*a*a*a*a*a*a*a*a*a*a*b', 'a'.repeat(30_000), false],
    ['^(\\w+\\s?)*$', 'word '.repeat(6_000) + '!', false],
    ['(.*a){12}', 'a'.repeat(30_000), true],
  ];

  test.each(adversarial)('%s is allowed and answers in linear time', (pattern, subject, expected) => {
    expect(matches([{ $regex: pattern }], [subject])).toBe(expected);
  });

  const refused: [string, RegExp][] = [
    ['(a)\\1', /backreferences/],
    ['(?<n>a)\\k<n>', /backreferences/],
    ['a(?=b)', /lookahead/],
    ['a(?!b)', /lookahead/],
    ['(?<=a)b', /lookahead/],
    ['(?<!a)b', /lookahead/],
    ['a**', /invalid nested repetition operator/],
    ['x{2,1}', /invalid repeat count/],
  ];

  test.each(refused)('%s is refused', (pattern, reason) => {
    expect(rejection(() => compileTemplate([{ $regex: pattern }]))).toEqual({ code: 'INVALID_TEMPLATE', field: '0' });
    expect(messageOf(() => compileTemplate([{ $regex: pattern }]))).toMatch(reason);
  });

  test('ECMAScript \\u escapes still work, outside and inside classes; an escaped backslash stays one', () => {
    expect(matches([{ $regex: '^\\u00e9$' }], ['é'])).toBe(true);
    expect(matches([{ $regex: '^\\u{1F600}+$' }], ['😀😀'])).toBe(true);
    expect(matches([{ $regex: '^\\uD83D\\uDE00$' }], ['😀'])).toBe(true);
    expect(matches([{ $regex: '^[\\u0041-\\u0043]+$' }], ['ABCA'])).toBe(true);
    expect(matches([{ $regex: '^\\\\u0041$' }], ['\\u0041'])).toBe(true);
    expect(matches([{ $regex: '^\\Q\\u0041\\E$' }], ['\\u0041'])).toBe(true);
    expect(translateUnicodeEscapes('a\\\\u0041\\u0042')).toBe('a\\\\u0041\\x{0042}');
  });

  test('the size is counted as RE2 counts it', () => {
    const sizes: [string, number][] = [
      ['abc', 3],
      ['a*b+c?', 7],
      ['a??', 2],
      ['a{5}', 5],
      ['a{2,}', 3],
      ['a{0,}', 3],
      ['a{0,7}', 14],
      ['a{0}', 1],
      ['(ab){3}', 12],
      ['(?:ab){3}', 6],
      ['((a{2}){3}b){4}', 60],
      ['[a-z{}]{10}', 10],
      ['[]a]{2}', 2],
      ['[[:alpha:]]{3}', 3],
      ['\\p{Greek}{4}\\x{1F600}{2}', 6],
      ['a|b{3}|c', 7],
      ['a||b', 5],
      ['()*', 5],
      ['(?i)(?:ab|cd){2}', 10],
      ['(?P<n>a{3})', 5],
      ['(?<n>a{3})', 5],
      ['\\Qa{9}\\E{3}', 6],
      ['😀{3}', 3],
      ['x{9999999999}', 1e9],
      ['((a)', 5],
    ];
    for (const [pattern, size] of sizes) expect([pattern, regexSize(pattern)]).toEqual([pattern, size]);
  });

  test('the size bounds the program RE2 compiles (random patterns)', () => {
    const atoms = ['a', 'b', '.', '\\d', '[a-z]', '\\p{L}', '(?:x|y)', '(a)', '\\x{1F600}', '[^\\]]', '\\Q..\\E', '😀', '(?i)k', '^', '$'];
    const quantifiers = ['', '', '*', '+', '?', '{3}', '{2,5}', '{4,}', '*?', '{1,20}', '{0,}'];
    let seed = 20;
    const pick = <T>(list: T[]): T => list[(seed = (seed * 1103515245 + 12345) % 2 ** 31) % list.length]!;
    const pattern = (depth: number): string => {
      let p = '';
      for (let n = pick([1, 2, 3, 4]); n > 0; n--) {
        let part = depth < 4 && pick([0, 0, 0, 1]) ? `(${pattern(depth + 1)})` : pick(atoms);
        if (pick([0, 0, 0, 0, 0, 0, 0, 0, 0, 1])) part += '|' + pattern(depth + 1);
        p += part + pick(quantifiers);
      }
      return p;
    };
    let compiled = 0;
    for (let n = 0; n < 2_000; n++) {
      const p = pattern(0);
      let program: number;
      try {
        program = RE2JS.compile(p).programSize();
      } catch {
        continue; // e.g. a repeated repetition, which RE2 refuses
      }
      compiled++;
      expect([p, program <= regexSize(p) + 2]).toEqual([p, true]);
    }
    expect(compiled).toBeGreaterThan(1_000);
  });

  test('the size bounds what RE2 compiles, so compiling never costs more than the limit allows', () => {
    // Patterns whose program would be tens of thousands of instructions are refused before compiling.
    for (const pattern of ['.{1000}'.repeat(36), '[\\p{L}\\p{N}]{1000}'.repeat(12), '((.{10}){10}){10}'.repeat(14)]) {
      expect(messageOf(() => compileTemplate([{ $regex: pattern }]))).toMatch(/too large/);
    }
  });
});

describe('validateTuple', () => {
  test('accepts every kind of value', () => {
    const tuple = [null, true, 1, 1.5, 2n ** 60n, 'x', bin(1), Buffer.from('y'), [1, [2]], { a: { b: [null] } }, Object.create(null)];
    expect(() => validateTuple(tuple)).not.toThrow();
  });

  const cases: [string, unknown, Parameters<typeof validateTuple>[1], string | undefined][] = [
    ['not an array', { 0: 'a' }, undefined, undefined],
    ['a string', 'abc', undefined, undefined],
    ['null', null, undefined, undefined],
    ['empty', [], undefined, undefined],
    ['too many fields', [1, 2, 3], { maxArity: 2 }, undefined],
    ['more than 64 fields by default', Array.from({ length: 65 }, () => 0), undefined, undefined],
    ['undefined', ['a', undefined], undefined, '1'],
    ['a hole', [1, , 3], undefined, '1'],
    ['a function', [() => 1], undefined, '0'],
    ['a symbol', [Symbol('s')], undefined, '0'],
    ['a Date', [new Date(0)], undefined, '0'],
    ['a Map', [new Map()], undefined, '0'],
    ['a Float32Array', [new Float32Array(1)], undefined, '0'],
    ['a class instance', [new (class Point { x = 1; })()], undefined, '0'],
    ['undefined nested in an object', [{ a: [1, undefined] }], undefined, '0.a.1'],
    ['nesting too deep', [[[1]]], { maxDepth: 2 }, '0.0'],
    ['nesting deeper than 32 by default', [JSON.parse('['.repeat(32) + ']'.repeat(32))], undefined, '0' + '.0'.repeat(31)],
  ];

  test.each(cases)('rejects %s', (_name, tuple, limits, field) => {
    expect(rejection(() => validateTuple(tuple, limits))).toEqual({ code: 'INVALID_TUPLE', field });
  });

  test('nesting up to the limit is fine; keys with a $ inside (not first) are data', () => {
    expect(() => validateTuple([[1]], { maxDepth: 2 })).not.toThrow();
    expect(() => validateTuple([JSON.parse('['.repeat(31) + ']'.repeat(31))])).not.toThrow();
    expect(() => validateTuple([{ price$: 1, 'a$b': 2 }])).not.toThrow();
  });

  test('keys starting with $ are data in a tuple, matched with $eq', () => {
    for (const tuple of [[{ $any: true }], ['x', { job: { $type: 'a' } }], [[1, { ok: 1, $x: 2 }]]]) {
      expect(() => validateTuple(tuple)).not.toThrow();
    }
    expect(compileTemplate([{ $eq: { $any: true } }]).matches([{ $any: true }])).toBe(true);
    expect(compileTemplate([{ $any: true }]).matches([{ $any: true }])).toBe(true);
    expect(compileTemplate([{ $eq: { $any: true } }]).matches(['other'])).toBe(false);
  });
});
