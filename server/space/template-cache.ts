import { isPlainObject } from './values.js';
import type { Template } from './template.js';

/** Templates kept: a few, compared field by field, so a miss costs next to nothing beside its compile. */
const KEPT = 4;
/** Fields of a template kept, and characters of a string in it: a long one costs its compile, not memory here. */
const MAX_FIELDS = 16;
const MAX_STRING = 64;
/** Misses in a row after which the next BYPASS lookups go straight to compile. */
const MISSES_BEFORE_BYPASS = 16;
const BYPASS = 256;
const FLAT_OPERATORS = new Set(['$any', '$type', '$regex', '$eq']);

/**
 * The templates compiled last. A taker that loops on one template had it compiled on every
 * `in` (a tenth of the broker's time in out -> in pairs, issue 14); a compiled template is
 * immutable, so a template with the same fields can share it. Only flat templates are kept (each
 * field a scalar, or one operator of $any, $type, $regex, $eq with a scalar argument), and one
 * is reused only when every field is identical (===) to the kept one's, which implies deepEqual
 * (values.ts), so it compiles to the same matcher. A template that fails to compile is never
 * kept, so every refusal is made afresh.
 */
export class TemplateCache {
  private readonly wires: unknown[][] = [];
  private readonly templates: Template[] = [];
  private next = 0;
  /** Lookups missed in a row, and lookups left to make without looking: templates that never repeat (a reply id in each) pay for the look only now and then. */
  private misses = 0;
  private bypass = 0;

  /** The template compiled by `compile`, or the one compiled before for a `wire` with the same fields. */
  get(wire: unknown, compile: (wire: unknown) => Template): Template {
    if (this.bypass > 0) {
      this.bypass--;
      return compile(wire);
    }
    const wires = this.wires;
    for (let i = 0; i < wires.length; i++) {
      if (!sameFields(wires[i]!, wire)) continue;
      this.misses = 0;
      return this.templates[i]!;
    }
    if (++this.misses === MISSES_BEFORE_BYPASS) {
      this.misses = 0;
      this.bypass = BYPASS;
    }
    const template = compile(wire);
    if (isFlat(wire)) {
      const at = this.next;
      this.next = (at + 1) % KEPT;
      wires[at] = wire;
      this.templates[at] = template;
    }
    return template;
  }
}

/** Whether `wire` can be kept: a short array of scalars and operators with a scalar argument. */
function isFlat(wire: unknown): wire is unknown[] {
  if (!Array.isArray(wire) || wire.length === 0 || wire.length > MAX_FIELDS) return false;
  for (const v of wire) {
    if (isShortScalar(v)) continue;
    if (!isPlainObject(v)) return false;
    const op = onlyKey(v);
    if (op === undefined || !FLAT_OPERATORS.has(op) || !isShortScalar(v[op])) return false;
  }
  return true;
}

/**
 * Whether `wire` has the fields of `kept` (a flat template): each scalar identical, each
 * operator object the same single operator with an identical argument.
 */
function sameFields(kept: unknown[], wire: unknown): boolean {
  if (!Array.isArray(wire) || wire.length !== kept.length) return false;
  for (let i = 0; i < kept.length; i++) {
    const a = kept[i];
    const b: unknown = wire[i];
    if (a === b) continue;
    if (typeof a !== 'object' || a === null || !isPlainObject(b)) return false;
    const op = onlyKey(b);
    if (op === undefined || !Object.prototype.hasOwnProperty.call(a, op) || (a as Record<string, unknown>)[op] !== b[op]) return false;
  }
  return true;
}

/** The one own key of an object; undefined when it has none or more. */
function onlyKey(v: Record<string, unknown>): string | undefined {
  let only: string | undefined;
  for (const k in v) {
    if (only !== undefined || !Object.prototype.hasOwnProperty.call(v, k)) return undefined;
    only = k;
  }
  return only;
}

function isShortScalar(v: unknown): boolean {
  const type = typeof v;
  if (type === 'string') return (v as string).length <= MAX_STRING;
  return type === 'number' || type === 'boolean' || type === 'bigint' || v === null;
}
