/**
 * Reads the ceilings out of the broker's frame schemas (protocol/frames.ts), so that the tests of
 * protocol.md §4.6 are driven by the schemas themselves: a field given a maximum there is checked
 * against the doc and sent at its ceiling and one beyond, without a second list to keep in step.
 *
 * Paths use the notation of §4.6: `a.b` field b of object a, `a[]` an item of array a, `a{}` a
 * name (key) of map a, `a.*` any value of map a.
 */
import { clientFrameSchemas } from '../../protocol/frames.js';
import { MAX_TOPIC_LENGTH } from '../../protocol/topics.js';

export type LimitKind = 'maximum' | 'maxLength' | 'maxItems' | 'maxProperties';

export interface FieldLimit { t: string; path: string; kind: LimitKind; limit: number }
/** A field whose schema lets it grow without a ceiling. */
export interface Unbounded { t: string; path: string; what: string }

/**
 * Strings bounded outside the schemas, by the check that gives them their own error code
 * (protocol/topics.ts): §4.6 lists them with that code.
 */
export const TYPED_LIMITS = [
  { t: 'pub', path: 'topic', limit: MAX_TOPIC_LENGTH, code: 'INVALID_TOPIC' },
  { t: 'sub', path: 'pattern', limit: MAX_TOPIC_LENGTH, code: 'INVALID_PATTERN' },
  { t: 'qcreate', path: 'pattern', limit: MAX_TOPIC_LENGTH, code: 'INVALID_PATTERN' },
  { t: 'screate', path: 'pattern', limit: MAX_TOPIC_LENGTH, code: 'INVALID_PATTERN' },
] as const;

/** The unit §4.6 writes after a ceiling of each kind (a plain number is a `maximum`). */
export const UNITS: Record<LimitKind, string> = { maximum: '', maxLength: 'characters', maxItems: 'items', maxProperties: 'entries' };

interface Schema {
  type?: string;
  maximum?: number; maxLength?: number; maxItems?: number; maxProperties?: number;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  propertyNames?: Schema;
  items?: Schema;
  uniqueItems?: boolean;
  enum?: unknown[];
  oneOf?: Schema[];
}

const join = (path: string, field: string): string => (path === '' ? field : `${path}.${field}`);

function walk(t: string, schema: Schema, path: string, out: { limits: FieldLimit[]; unbounded: Unbounded[] }): void {
  const limit = (kind: LimitKind): void => {
    if (schema[kind] !== undefined) out.limits.push({ t, path, kind, limit: schema[kind]! });
    else out.unbounded.push({ t, path, what: `${schema.type} without ${kind}` });
  };
  if (schema.type === 'integer' || schema.type === 'number') limit('maximum');
  if (schema.type === 'string') limit('maxLength');
  if (schema.type === 'array') {
    // Distinct values of a closed list cannot outnumber it (`events` of notify).
    if (!(schema.uniqueItems && schema.items?.enum)) limit('maxItems');
    if (schema.items) walk(t, schema.items, `${path}[]`, out);
  }
  for (const [field, sub] of Object.entries(schema.properties ?? {})) walk(t, sub, join(path, field), out);
  if (schema.type === 'object' && schema.additionalProperties !== false && !schema.oneOf) {
    // An open map: how many entries, how long a name, and what each value may be. (An object
    // with `oneOf` is as closed as its branches, walked below.)
    limit('maxProperties');
    if (schema.propertyNames) walk(t, schema.propertyNames, `${path}{}`, out);
    else out.unbounded.push({ t, path: `${path}{}`, what: 'map names without maxLength' });
    if (typeof schema.additionalProperties === 'object') walk(t, schema.additionalProperties, `${path}.*`, out);
  }
  for (const branch of schema.oneOf ?? []) walk(t, branch, path, out);
}

/** Every ceiling of every client message schema, once per (message, path, kind). */
export function schemaLimits(): { limits: FieldLimit[]; unbounded: Unbounded[] } {
  const out = { limits: [] as FieldLimit[], unbounded: [] as Unbounded[] };
  for (const [t, schema] of Object.entries(clientFrameSchemas({}))) {
    const { properties } = schema as Schema;
    for (const [field, sub] of Object.entries(properties ?? {})) if (field !== 't') walk(t, sub, field, out);
  }
  const seen = new Set<string>();
  out.limits = out.limits.filter((l) => {
    const key = `${l.t} ${l.path} ${l.kind}`;
    return !seen.has(key) && seen.add(key);
  });
  return out;
}
