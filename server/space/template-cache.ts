import { canonicalKey, isPlainObject } from './values.js';
import type { Template } from './template.js';

/** Distinct templates kept; past it the cache starts again (a client cycling through more gains nothing from it). */
const MAX_TEMPLATES = 1024;
/** Longer keys are not kept: a template with a long literal costs its compile, not its memory here. */
const MAX_KEY_LENGTH = 256;

/**
 * Compiled templates by what they say. A taker that loops on one template had it compiled on
 * every `in` (a tenth of the broker's time in out -> in pairs, issue 14); a template is immutable
 * once compiled, so equal ones share it. Only flat templates are kept: each field a scalar or an
 * operator with a scalar argument (`{ $any: true }`, `{ $type }`, `{ $regex }`, `{ $eq }`), whose
 * key costs a short walk. Two templates get the same key exactly when their fields are
 * deepEqual (values.ts), which is when they compile to the same matcher; one that fails to
 * compile is never kept, so every refusal is still made afresh.
 */
export class TemplateCache {
  private readonly templates = new Map<string, Template>();

  /** The template compiled by `compile`, or the one compiled before for an equal `wire`. */
  get(wire: unknown, compile: (wire: unknown) => Template): Template {
    const key = flatKey(wire);
    if (key === undefined) return compile(wire);
    let template = this.templates.get(key);
    if (template) return template;
    template = compile(wire);
    if (this.templates.size >= MAX_TEMPLATES) this.templates.clear();
    this.templates.set(key, template);
    return template;
  }
}

/** The key of a flat template, or undefined for any other (nested values, `$in`, `$range`, binary, a long one). */
function flatKey(wire: unknown): string | undefined {
  if (!Array.isArray(wire) || wire.length === 0) return undefined;
  let key = '';
  for (let i = 0; i < wire.length; i++) {
    const part = fieldKey(wire[i]);
    if (part === undefined) return undefined;
    // Length-prefixed, so no two field lists make one key.
    key += `${part.length}:${part}`;
    if (key.length > MAX_KEY_LENGTH) return undefined;
  }
  return key;
}

function fieldKey(v: unknown): string | undefined {
  if (isScalar(v)) return canonicalKey(v);
  if (!isPlainObject(v)) return undefined;
  let op: string | undefined;
  for (const k in v) {
    if (op !== undefined) return undefined; // more than one key
    op = k;
  }
  // A canonical key starts with a letter, an operator with `$`: the two kinds never meet. Only
  // the operators named here, so the space after one cannot be part of another's name.
  if (op === undefined || !FLAT_OPERATORS.has(op) || !Object.prototype.hasOwnProperty.call(v, op)) return undefined;
  const arg = v[op];
  return isScalar(arg) ? op + ' ' + canonicalKey(arg) : undefined;
}

const FLAT_OPERATORS = new Set(['$any', '$type', '$regex', '$eq']);

function isScalar(v: unknown): boolean {
  const type = typeof v;
  return type === 'string' || type === 'number' || type === 'boolean' || type === 'bigint' || v === null;
}
