/**
 * Tuple field values as MessagePack decodes them in JS, and the two questions the space asks of
 * them: are these equal, and what string stands for this value in a hash index.
 *
 * A value is null, a boolean, a number, a bigint (64-bit integers that do not fit a double),
 * a string, binary (Uint8Array, which includes Buffer), an array of values or a plain object of
 * values. MessagePack keeps ints and floats apart, JS does not, so 1 and 1.0 are one value; a
 * bigint is the same value as a number when they are mathematically equal.
 */
import { types as utilTypes } from 'node:util';
import { LindenError } from '../../protocol/errors.js';

export type ValueType = 'null' | 'boolean' | 'number' | 'string' | 'binary' | 'array' | 'object';

// util.types.isUint8Array checks the internal slot, so it also holds for a Buffer made in another
// realm (jest runs tests in a vm context where `instanceof Uint8Array` misses Node's Buffers).
export const isBinary: (v: unknown) => v is Uint8Array = utilTypes.isUint8Array;

/**
 * A plain object: made by a literal, by a decoder or by Object.create(null). The last test
 * accepts another realm's Object.prototype (a prototype whose own prototype is null).
 */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === null || proto === Object.prototype || Object.getPrototypeOf(proto) === null;
}

/**
 * The type of a valid value; bigint is 'number'. Other objects are not checked here (validation
 * rejects them before a value reaches the space) and report 'object'.
 */
export function typeOf(v: unknown): ValueType {
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'number':
    case 'bigint':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'object':
      if (v === null) return 'null';
      if (Array.isArray(v)) return 'array';
      return isBinary(v) ? 'binary' : 'object';
    default:
      throw new TypeError(`not a tuple value: ${typeof v}`);
  }
}

/**
 * Equality of values: numbers by value (NaN equals NaN, -0 equals 0, a bigint equals the number
 * of the same value), binary only with binary and byte by byte, arrays element by element,
 * objects with the same keys in any order. Anything that is not a value equals nothing.
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  switch (typeof a) {
    case 'string':
    case 'boolean':
      return a === b;
    case 'number':
      if (typeof b === 'number') return a === b || (a !== a && b !== b);
      return typeof b === 'bigint' && bigintEqualsNumber(b, a);
    case 'bigint':
      if (typeof b === 'bigint') return a === b;
      return typeof b === 'number' && bigintEqualsNumber(a, b);
    case 'object':
      return objectsEqual(a, b);
    default:
      return false;
  }
}

/** Exact comparison, with no rounding of the bigint through a double. */
export function bigintEqualsNumber(b: bigint, n: number): boolean {
  return Number.isInteger(n) && BigInt(n) === b;
}

function objectsEqual(a: object | null, b: unknown): boolean {
  if (a === null) return b === null;
  if (typeof b !== 'object' || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (isBinary(a)) {
    if (!isBinary(b) || a.byteLength !== b.byteLength) return false;
    for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (!isPlainObject(a) || !isPlainObject(b)) return false;
  if (a === b) return true;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) {
    if (!Object.prototype.hasOwnProperty.call(b, k) || !deepEqual(a[k], b[k])) return false;
  }
  return true;
}

/**
 * A string that stands for the value in a hash index: canonicalKey(a) === canonicalKey(b)
 * exactly when deepEqual(a, b). The first character names the kind, so keys of different kinds
 * never meet; inside arrays and objects every part is length-prefixed (`<length>:<key>`), so
 * ['a,b'] and ['a', 'b'] cannot collide whatever characters the strings hold.
 *
 *   z null · t / f booleans · n<String(number)> numbers, and bigints a double holds exactly ·
 *   B<digits> other bigints · s<string> · x<base64> binary · a<parts> arrays ·
 *   o<key part><value part>… objects, keys sorted
 */
export function canonicalKey(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return 's' + v;
    case 'number':
      return numberKey(v);
    case 'boolean':
      return v ? 't' : 'f';
    case 'bigint': {
      const n = Number(v);
      // A bigint a double holds exactly must share the number's key; the others equal no
      // number, and get their own prefix because String() of a large double can print the same
      // digits as a nearby bigint (String(123456789012345683968) is '123456789012345680000').
      return bigintEqualsNumber(v, n) ? numberKey(n) : 'B' + v.toString();
    }
    case 'object':
      if (v === null) return 'z';
      if (Array.isArray(v)) {
        let key = 'a';
        for (const item of v) key += part(canonicalKey(item));
        return key;
      }
      if (isBinary(v)) return 'x' + Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
      if (isPlainObject(v)) {
        let key = 'o';
        for (const k of Object.keys(v).sort()) key += part(k) + part(canonicalKey(v[k]));
        return key;
      }
      throw new TypeError('not a tuple value: a non-plain object');
    default:
      throw new TypeError(`not a tuple value: ${typeof v}`);
  }
}

/**
 * What stands for a value in the space's equality indexes (Map keys): SameValueZero of two index
 * keys holds exactly when deepEqual of the values does. Scalars are their own key, so looking up
 * a number or a string makes no string and hashes no fresh one (in a map of a million
 * 'n'-prefixed numbers that was 670 ns a lookup against 150 for the number itself): Map already
 * takes -0 as 0 and NaN as NaN, and compares bigints by value. A bigint a double holds exactly is
 * that number. Binary, arrays and objects are their canonicalKey after a NUL, which no other key
 * starts with: a string that does is escaped as NUL 's' and the string.
 */
export type IndexKey = string | number | bigint | boolean | null;

export function indexKey(v: unknown): IndexKey {
  switch (typeof v) {
    case 'string':
      return v.charCodeAt(0) === 0 ? '\0s' + v : v;
    case 'number':
    case 'boolean':
      return v;
    case 'bigint': {
      const n = Number(v);
      return bigintEqualsNumber(v, n) ? n : v;
    }
    default:
      return v === null ? null : '\0' + canonicalKey(v);
  }
}

function numberKey(n: number): string {
  // String() is exact and one-to-one over doubles except that it prints -0 as '0' as well;
  // naming 0 explicitly keeps that true without relying on it.
  return n === 0 ? 'n0' : 'n' + String(n);
}

function part(key: string): string {
  return key.length + ':' + key;
}

/** What is wrong with a value and where, for the caller to raise with its own error code. */
export interface ValueProblem {
  field: string;
  message: string;
}

/**
 * Checks that `v` is a value: no undefined, functions or symbols, no objects but plain ones and
 * Uint8Array, at most `maxDepth` arrays and objects deep counting `depth` already entered, and,
 * unless `allowDollarKeys`, no object key starting with `$` (reserved for template operators).
 * Returns the first problem found, or undefined.
 */
export function findValueProblem(
  v: unknown,
  field: string,
  depth: number,
  maxDepth: number,
  allowDollarKeys: boolean,
): ValueProblem | undefined {
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'bigint':
    case 'boolean':
      return undefined;
    case 'object': {
      if (v === null || isBinary(v)) return undefined;
      const isArray = Array.isArray(v);
      if (!isArray && !isPlainObject(v)) {
        return { field, message: `field ${field} is a ${v.constructor?.name ?? 'non-plain object'}, not a MessagePack value` };
      }
      if (depth + 1 > maxDepth) return { field, message: `field ${field} nests deeper than ${maxDepth} levels` };
      if (isArray) {
        // Indexing, not for-of: a hole reads as undefined and is reported like one.
        for (let i = 0; i < v.length; i++) {
          const p = findValueProblem(v[i], `${field}.${i}`, depth + 1, maxDepth, allowDollarKeys);
          if (p) return p;
        }
        return undefined;
      }
      const obj = v as Record<string, unknown>;
      for (const k of Object.keys(obj)) {
        if (!allowDollarKeys && k.startsWith('$')) {
          return { field: `${field}.${k}`, message: `field ${field} has key "${k}": keys starting with $ are reserved for template operators` };
        }
        const p = findValueProblem(obj[k], `${field}.${k}`, depth + 1, maxDepth, allowDollarKeys);
        if (p) return p;
      }
      return undefined;
    }
    default:
      return { field, message: `field ${field} is ${typeof v}, not a MessagePack value` };
  }
}

export interface TupleLimits {
  /** Fields of a tuple. */
  maxArity: number;
  /** Arrays and objects nested in a tuple, counting the tuple itself. */
  maxDepth: number;
}

export const DEFAULT_TUPLE_LIMITS: Readonly<TupleLimits> = { maxArity: 64, maxDepth: 32 };

/**
 * Throws INVALID_TUPLE unless `tuple` can be stored: a non-empty array of at most `maxArity`
 * values, nested at most `maxDepth` deep, with no `$` keys in its objects (so stored data can
 * never be mistaken for a template operator). Sizes in bytes are checked where frames are decoded.
 */
export function validateTuple(tuple: unknown, limits: Partial<TupleLimits> = {}): asserts tuple is unknown[] {
  // Complete limits (the broker's) are used as they are: no object per tuple.
  const lim: TupleLimits = limits.maxArity !== undefined && limits.maxDepth !== undefined ? (limits as TupleLimits) : { ...DEFAULT_TUPLE_LIMITS, ...limits };
  if (!Array.isArray(tuple)) throw new LindenError('INVALID_TUPLE', 'a tuple must be an array of fields');
  if (tuple.length === 0) throw new LindenError('INVALID_TUPLE', 'a tuple must have at least one field');
  if (tuple.length > lim.maxArity) {
    throw new LindenError('INVALID_TUPLE', `a tuple has at most ${lim.maxArity} fields, this one has ${tuple.length}`);
  }
  for (let i = 0; i < tuple.length; i++) {
    // `$` keys only mean something in templates; in a tuple they are data ($eq matches them).
    const problem = findValueProblem(tuple[i], String(i), 1, lim.maxDepth, true);
    if (problem) throw new LindenError('INVALID_TUPLE', problem.message, { field: problem.field });
  }
}
