/**
 * Templates for `in`, `rd` and friends, compiled once into closures, so matching a tuple never
 * parses the template again.
 *
 * A template is a non-empty array with one entry per tuple field. An entry is an actual value
 * (matched with deepEqual; `null` is a value, not a wildcard), an array or object whose parts are
 * entries in turn (an object matches objects with exactly its keys), or an operator object: one
 * key starting with `$` and nothing else.
 *
 *   { $any: true }                      any value
 *   { $type: 'string' | 'number' | 'integer' | 'boolean' | 'null' | 'binary' | 'array' | 'object' }
 *   { $range: { gt?, gte?, lt?, lte? } } numbers (and bigints) only, or strings only
 *   { $in: [v, …] }                     one of the listed actual values
 *   { $regex: 'pattern' }               strings only; RE2 syntax, matched in linear time (regex-operator.ts)
 *   { $eq: v }                          exactly v, even when v is an object with `$` keys
 */
import { preview } from '../../protocol/echo.js';
import { LindenError } from '../../protocol/errors.js';
import { compileRegex } from './regex-operator.js';
import {
  bigintEqualsNumber, deepEqual, findValueProblem, indexKey, isBinary, isPlainObject, type IndexKey, type ValueType,
} from './values.js';

// The tuple check lives with the values it checks; exported here too, next to its template twin.
export { DEFAULT_TUPLE_LIMITS, validateTuple, type TupleLimits } from './values.js';

export interface TemplateLimits {
  /** Entries of one `$in` list. */
  maxInValues: number;
  /** Length of a `$regex` pattern, in UTF-16 code units. */
  maxRegexLength: number;
  /** Size of a `$regex` pattern as RE2 counts it, about its number of instructions (regex-operator.ts). */
  maxRegexSize: number;
  /** `$regex` operators in one template: each compiles to a program held as long as the template. */
  maxRegexes: number;
  /** Fields of a template. */
  maxArity: number;
  /** Arrays and objects nested in a template, counting the template itself. */
  maxDepth: number;
}

export const DEFAULT_TEMPLATE_LIMITS: Readonly<TemplateLimits> = {
  maxInValues: 256,
  maxRegexLength: 256,
  maxRegexSize: 512,
  maxRegexes: 16,
  maxArity: 64,
  maxDepth: 32,
};

export type TemplateType = ValueType | 'integer';

export interface Template {
  readonly arity: number;
  /** Whether the tuple (a valid one; see validateTuple) matches. */
  matches(tuple: unknown[]): boolean;
  /** Top-level actual values and `$eq` fields, with their indexKey, for the equality index. */
  readonly equalities: readonly Equality[];
  /** Top-level `$type` fields, for the type index ('integer' is given as 'number'). */
  readonly types: readonly { position: number; type: ValueType }[];
  /** Top-level `$in` fields: the indexKeys of the listed values, without repeats. */
  readonly inKeys: readonly { position: number; keys: IndexKey[] }[];
}

/** An actual value of a template at `position`: the value itself (the cluster keys its index by canonicalKey) and its indexKey. */
export interface Equality {
  readonly position: number;
  readonly key: IndexKey;
  readonly value: unknown;
}

type Matcher = (v: unknown) => boolean;

/** One compiled entry, with what the indexes may use when it is a top-level field. */
interface Compiled {
  match: Matcher;
  /** Set for an actual value (or `$eq`): the whole entry is this literal. */
  literal?: { value: unknown };
  type?: ValueType;
  inKeys?: IndexKey[];
}

const TYPE_NAMES: readonly TemplateType[] = ['string', 'number', 'integer', 'boolean', 'null', 'binary', 'array', 'object'];
const RANGE_BOUNDS = ['gt', 'gte', 'lt', 'lte'] as const;
const OPERATORS = ['$any', '$type', '$range', '$in', '$regex', '$eq'] as const;
type Operator = (typeof OPERATORS)[number];

export function compileTemplate(template: unknown, limits: Partial<TemplateLimits> = {}): Template {
  const maxArity = limits.maxArity ?? DEFAULT_TEMPLATE_LIMITS.maxArity;
  if (!Array.isArray(template)) throw new LindenError('INVALID_TEMPLATE', 'a template must be an array of fields');
  if (template.length === 0) throw new LindenError('INVALID_TEMPLATE', 'a template must have at least one field');
  if (template.length > maxArity) {
    throw new LindenError('INVALID_TEMPLATE', `a template has at most ${maxArity} fields, this one has ${template.length}`);
  }
  // Scalars and `{ $any: true }`, what nearly every template is made of, are taken here, with no
  // Compiler, closure or array of their own: compiling is part of the cost of every `in` and `rd`.
  let compiler: Compiler | undefined;
  const equalities: Equality[] = [];
  let types: { position: number; type: ValueType }[] | undefined;
  let inKeys: { position: number; keys: IndexKey[] }[] | undefined;
  let checks: { position: number; match: Matcher }[] | undefined;
  for (let position = 0; position < template.length; position++) {
    const v: unknown = template[position];
    if (isScalar(v)) {
      equalities.push({ position, key: indexKey(v), value: v });
      continue;
    }
    if (isAnyOperator(v)) continue;
    const f = (compiler ??= new Compiler({ ...DEFAULT_TEMPLATE_LIMITS, ...limits })).entry(v, String(position), 1);
    if (f.literal) equalities.push({ position, key: indexKey(f.literal.value), value: f.literal.value });
    // `$any` fields need no call at all, so they are left out.
    else if (f.match !== matchAny) (checks ??= []).push({ position, match: f.match });
    if (f.type) (types ??= []).push({ position, type: f.type });
    if (f.inKeys) (inKeys ??= []).push({ position, keys: f.inKeys });
  }
  return new CompiledTemplate(template.length, equalities, types ?? NONE, inKeys ?? NONE, checks ?? NONE);
}

/** Shared by every template without `$type`, `$in` or other operator fields. */
const NONE: readonly never[] = Object.freeze([]);

/** A method, not a closure per template: one object and its arrays are all a compile makes. */
class CompiledTemplate implements Template {
  constructor(
    readonly arity: number,
    readonly equalities: readonly Equality[],
    readonly types: readonly { position: number; type: ValueType }[],
    readonly inKeys: readonly { position: number; keys: IndexKey[] }[],
    /** Fields that are neither actual values nor `$any`. */
    private readonly checks: readonly { position: number; match: Matcher }[],
  ) {}

  matches(tuple: unknown[]): boolean {
    if (tuple.length !== this.arity) return false;
    const equalities = this.equalities;
    for (let j = 0; j < equalities.length; j++) {
      const { position, value } = equalities[j]!;
      const x = tuple[position];
      // === settles strings, booleans and null, and most numbers; deepEqual the rest (NaN, bigints, binary, arrays, objects).
      if (x !== value && ((typeof value !== 'number' && typeof value !== 'bigint' && typeof value !== 'object') || !deepEqual(value, x))) return false;
    }
    const checks = this.checks;
    for (let j = 0; j < checks.length; j++) if (!checks[j]!.match(tuple[checks[j]!.position])) return false;
    return true;
  }
}

/** A value compared whole: anything but an array or object, which the Compiler takes (undefined and functions too, to refuse them). */
function isScalar(v: unknown): boolean {
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
      return true;
    default:
      return v === null;
  }
}

/**
 * `{ $any: true }` and nothing else, told without Object.keys' array. Anything this turns down
 * goes to the Compiler, which decides it exactly (an inherited enumerable key makes for-in see more).
 */
function isAnyOperator(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || (v as { $any?: unknown }).$any !== true || !isPlainObject(v)) return false;
  if (!Object.prototype.propertyIsEnumerable.call(v, '$any')) return false;
  let keys = 0;
  for (const k in v) if (k !== '$any' || ++keys > 1) return false;
  return keys === 1;
}

const matchAny: Matcher = () => true;

class Compiler {
  /** `$regex` operators compiled so far. */
  private regexes = 0;

  constructor(private readonly lim: TemplateLimits) {}

  /** Compiles the entry at `path`, which sits inside `depth` arrays and objects. */
  entry(v: unknown, path: string, depth: number): Compiled {
    if (Array.isArray(v)) return this.array(v, path, depth);
    if (isPlainObject(v)) {
      const keys = Object.keys(v);
      if (!keys.some((k) => k.startsWith('$'))) return this.object(v, keys, path, depth);
      if (keys.length !== 1) throw fail(path, `an operator object has exactly one key, not ${preview(keys)}`);
      const op = keys[0]!;
      if (!(OPERATORS as readonly string[]).includes(op)) throw fail(path, `unknown operator ${preview(op)} (known: ${OPERATORS.join(', ')})`);
      return this.operator(op as Operator, v[op], path, depth);
    }
    const problem = findValueProblem(v, path, depth, this.lim.maxDepth, false);
    if (problem) throw fail(problem.field, problem.message);
    return literal(v);
  }

  private array(v: unknown[], path: string, depth: number): Compiled {
    if (depth + 1 > this.lim.maxDepth) throw fail(path, `field ${path} nests deeper than ${this.lim.maxDepth} levels`);
    const parts: Compiled[] = [];
    for (let i = 0; i < v.length; i++) parts.push(this.entry(v[i], `${path}.${i}`, depth + 1));
    // All parts literal: the array is an actual value, matched whole (and indexable at the top).
    if (parts.every((p) => p.literal)) return literal(v);
    const n = parts.length;
    const matchers = parts.map((p) => p.match);
    return {
      match: (x) => {
        if (!Array.isArray(x) || x.length !== n) return false;
        for (let i = 0; i < n; i++) if (!matchers[i]!(x[i])) return false;
        return true;
      },
    };
  }

  private object(v: Record<string, unknown>, keys: string[], path: string, depth: number): Compiled {
    if (depth + 1 > this.lim.maxDepth) throw fail(path, `field ${path} nests deeper than ${this.lim.maxDepth} levels`);
    const parts = keys.map((k) => ({ key: k, compiled: this.entry(v[k], `${path}.${k}`, depth + 1) }));
    if (parts.every((p) => p.compiled.literal)) return literal(v);
    const n = parts.length;
    const entries = parts.map((p) => ({ key: p.key, match: p.compiled.match }));
    return {
      // Same key count and every template key present means the same key set.
      match: (x) => {
        if (!isPlainObject(x) || Object.keys(x).length !== n) return false;
        for (const e of entries) if (!Object.prototype.hasOwnProperty.call(x, e.key) || !e.match(x[e.key])) return false;
        return true;
      },
    };
  }

  private operator(op: Operator, arg: unknown, path: string, depth: number): Compiled {
    switch (op) {
      case '$any':
        if (arg !== true) throw fail(path, '$any takes true: { $any: true }');
        return { match: matchAny };
      case '$type':
        return typeOperator(arg, path);
      case '$range':
        return rangeOperator(arg, path);
      case '$in':
        return this.inOperator(arg, path, depth);
      case '$regex':
        return this.regexOperator(arg, path);
      case '$eq': {
        // $eq is the escape for literals with `$` keys: tuples are data and may hold them.
        const problem = findValueProblem(arg, `${path}.$eq`, depth, this.lim.maxDepth, true);
        if (problem) throw fail(path, problem.message);
        return literal(arg);
      }
    }
  }

  private inOperator(arg: unknown, path: string, depth: number): Compiled {
    if (!Array.isArray(arg) || arg.length === 0) throw fail(path, '$in takes a non-empty array of values');
    if (arg.length > this.lim.maxInValues) {
      throw fail(path, `$in takes at most ${this.lim.maxInValues} values, this one has ${arg.length}`);
    }
    for (let i = 0; i < arg.length; i++) {
      // Operators do not nest in $in (its entries are plain values), and a tuple never holds a
      // `$` key, so an entry with one is a mistake worth reporting rather than a dead entry.
      const problem = findValueProblem(arg[i], `${path}.$in.${i}`, depth, this.lim.maxDepth, false);
      if (problem) throw fail(path, problem.message);
    }
    const keys = [...new Set(arg.map(indexKey))];
    if (arg.every((x) => typeof x === 'string')) {
      const strings = new Set(arg as string[]);
      return { match: (x) => typeof x === 'string' && strings.has(x), inKeys: keys };
    }
    const set = new Set(keys);
    return { match: (x) => set.has(indexKey(x)), inKeys: keys };
  }

  private regexOperator(arg: unknown, path: string): Compiled {
    if (typeof arg !== 'string') throw fail(path, '$regex takes a pattern string');
    if (++this.regexes > this.lim.maxRegexes) throw fail(path, `a template holds at most ${this.lim.maxRegexes} $regex operators`);
    let test: (s: string) => boolean;
    try {
      test = compileRegex(arg, this.lim);
    } catch (e) {
      throw fail(path, (e as Error).message);
    }
    return { match: (x) => typeof x === 'string' && test(x) };
  }
}

function typeOperator(arg: unknown, path: string): Compiled {
  if (typeof arg !== 'string' || !(TYPE_NAMES as readonly string[]).includes(arg)) {
    throw fail(path, `$type takes one of ${TYPE_NAMES.join(', ')}`);
  }
  const t = arg as TemplateType;
  switch (t) {
    case 'integer':
      return { match: (x) => typeof x === 'bigint' || Number.isInteger(x), type: 'number' };
    case 'number':
      return { match: (x) => typeof x === 'number' || typeof x === 'bigint', type: 'number' };
    case 'string':
      return { match: (x) => typeof x === 'string', type: t };
    case 'boolean':
      return { match: (x) => typeof x === 'boolean', type: t };
    case 'null':
      return { match: (x) => x === null, type: t };
    case 'binary':
      return { match: isBinary, type: t };
    case 'array':
      return { match: Array.isArray, type: t };
    case 'object':
      return { match: isPlainObject, type: t };
  }
}

function rangeOperator(arg: unknown, path: string): Compiled {
  if (!isPlainObject(arg)) throw fail(path, '$range takes an object of bounds: { gt?, gte?, lt?, lte? }');
  const keys = Object.keys(arg);
  const extra = keys.find((k) => !(RANGE_BOUNDS as readonly string[]).includes(k));
  if (extra !== undefined) throw fail(path, `$range has an unknown bound ${preview(extra)} (known: ${RANGE_BOUNDS.join(', ')})`);
  if (keys.length === 0) throw fail(path, '$range needs at least one bound');
  const kinds = new Set(keys.map((k) => boundKind(arg[k])));
  if (kinds.has(undefined)) throw fail(path, '$range bounds must be numbers (not NaN) or strings');
  if (kinds.size > 1) throw fail(path, '$range bounds must be all numbers or all strings');
  const kind = [...kinds][0]!;
  type Bound = number | bigint | string | undefined;
  const { gt, gte, lt, lte } = arg as Record<(typeof RANGE_BOUNDS)[number], Bound>;
  // Keep the tighter of gt/gte and of lt/lte, so a match makes at most two comparisons.
  // Relational operators compare a number with a bigint by exact value.
  const lowerExclusive = gt !== undefined && (gte === undefined || gt >= gte);
  const lower = lowerExclusive ? gt : gte;
  const upperExclusive = lt !== undefined && (lte === undefined || lt <= lte);
  const upper = upperExclusive ? lt : lte;
  const inRange = (x: number | bigint | string): boolean =>
    (lower === undefined || (lowerExclusive ? x > lower : x >= lower)) &&
    (upper === undefined || (upperExclusive ? x < upper : x <= upper));
  if (kind === 'string') return { match: (x) => typeof x === 'string' && inRange(x) };
  return { match: (x) => (typeof x === 'number' || typeof x === 'bigint') && inRange(x) };
}

function boundKind(b: unknown): 'number' | 'string' | undefined {
  if (typeof b === 'string') return 'string';
  if (typeof b === 'bigint' || (typeof b === 'number' && !Number.isNaN(b))) return 'number';
  return undefined;
}

/** The matcher for an actual value, with a fast path for each scalar kind. */
function literal(value: unknown): Compiled {
  const lit = { value };
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return { match: (x) => x === value, literal: lit };
    case 'number':
      if (Number.isNaN(value)) return { match: (x) => typeof x === 'number' && Number.isNaN(x), literal: lit };
      // -0 === 0 already.
      return { match: (x) => x === value || (typeof x === 'bigint' && bigintEqualsNumber(x, value)), literal: lit };
    case 'bigint':
      return { match: (x) => x === value || (typeof x === 'number' && bigintEqualsNumber(value, x)), literal: lit };
    default:
      if (value === null) return { match: (x) => x === null, literal: lit };
      return { match: (x) => deepEqual(value, x), literal: lit };
  }
}

function fail(field: string, message: string): LindenError {
  return new LindenError('INVALID_TEMPLATE', message, { field });
}
