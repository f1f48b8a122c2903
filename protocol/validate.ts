import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv';
import { clip, preview } from './echo.js';
import { invalidField, LindenError } from './errors.js';
import { clientFrameSchemas, type ClientFrame } from './frames.js';
import type { CodecName } from './version.js';
import { commonFrameChecks, type CommonFrameChecks } from './common-checks.js';

/** Validates messages from clients; ajv compiles each schema once, so the hot path is a function call. */
export class FrameValidator {
  private readonly validators: Map<string, ValidateFunction>;
  private readonly common: CommonFrameChecks;

  constructor(codec: CodecName) {
    this.common = commonFrameChecks(codec);
    const ajv = new Ajv({ allErrors: false, strict: true, discriminator: true });
    ajv.addKeyword({
      keyword: 'binary',
      schemaType: 'boolean',
      validate: (_schema: boolean, data: unknown) => data instanceof Uint8Array,
      errors: false,
    });
    ajv.addKeyword({
      keyword: 'plainObject',
      schemaType: 'boolean',
      validate: (_schema: boolean, data: unknown) => isPlainObject(data),
      errors: false,
    });
    // MessagePack carries the payload as opaque `bin`, encoded once by the publisher; JSON carries any value.
    const payload = codec === 'msgpack' ? { binary: true } : {};
    this.validators = new Map(
      Object.entries(clientFrameSchemas(payload)).map(([t, schema]) => [t, ajv.compile(plainObjectsIn(schema, true) as object)]),
    );
  }

  /** Returns the message typed, or throws UNKNOWN_FRAME_TYPE / INVALID_FRAME with the offending field. */
  check(message: unknown): ClientFrame {
    // The messages that carry the traffic, when plainly valid, pass without ajv; the rest, and
    // anything these checks are not sure of, go through the schema, which gives the error.
    if (this.common.accepts(message)) return message as ClientFrame;
    return this.checkBySchema(message);
  }

  /** check() by the schemas alone. */
  checkBySchema(message: unknown): ClientFrame {
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      throw new LindenError('INVALID_FRAME', 'a message must be an object with a type field `t`');
    }
    const t = (message as { t?: unknown }).t;
    const validate = typeof t === 'string' ? this.validators.get(t) : undefined;
    if (!validate) {
      // `t` may be anything a decoder makes: describing it must not throw (no INTERNAL_ERROR).
      throw new LindenError('UNKNOWN_FRAME_TYPE', `unknown message type ${preview(t)}`, { t: typeof t === 'string' ? clip(t) : preview(t) });
    }
    if (!validate(message)) throw invalid(t as string, validate.errors ?? []);
    return message as ClientFrame;
  }
}

/**
 * The schema with every nested `type: 'object'` also required to be a plain map. For ajv a
 * MessagePack timestamp (a Date) or the never-used byte 0xc1 (msgpackr's marker object) is an
 * object too; as `hdr` or `ext` it would pass and reach readers as something else than the map
 * of strings protocol.md §3.5 describes. (A message itself is checked by check().)
 */
function plainObjectsIn(schema: unknown, top = false): unknown {
  if (Array.isArray(schema)) return schema.map((s) => plainObjectsIn(s));
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) out[key] = plainObjectsIn(value);
  if (out.type === 'object' && !top) out.plainObject = true;
  return out;
}

function isPlainObject(data: unknown): boolean {
  if (typeof data !== 'object' || data === null) return false;
  const proto = Object.getPrototypeOf(data) as unknown;
  return proto === Object.prototype || proto === null;
}

function invalid(t: string, errors: ErrorObject[]): LindenError {
  // A value none of a oneOf's shapes takes (sub.start): the deepest error names the field that
  // broke the shape it was meant for (`start.seq` over its maximum), not the container.
  const first = errors.some((e) => e.keyword === 'oneOf') ? deepest(errors) : errors[0];
  if (!first) return new LindenError('INVALID_FRAME', `invalid "${t}" message`);
  let field = first.instancePath.replace(/^\//, '').replace(/\//g, '.');
  let problem = first.message ?? 'is invalid';
  if (first.keyword === 'additionalProperties') {
    field = String((first.params as { additionalProperty: string }).additionalProperty);
    problem = 'is not a field of this message';
  } else if (first.keyword === 'required') {
    field = String((first.params as { missingProperty: string }).missingProperty);
    problem = 'is required';
  } else if (first.keyword === 'binary') {
    problem = 'must be MessagePack bin (the payload encoded on its own)';
  } else if (first.keyword === 'discriminator') {
    field = field === '' ? 'op' : `${field}.op`;
    problem = 'is missing or not an op of this message';
  } else if (first.propertyName !== undefined) {
    // A name (key) of a map, such as a header name; the name itself is not quoted, it may be long.
    problem = `has a name that ${problem}`;
  } else if (first.keyword === 'plainObject') {
    problem = 'must be a map';
  }
  // A field's name may be the client's own (an unknown key of any length).
  field = clip(field);
  return invalidField(t, field, problem);
}

function deepest(errors: ErrorObject[]): ErrorObject | undefined {
  let best: ErrorObject | undefined;
  for (const e of errors) if (!best || e.instancePath.length > best.instancePath.length) best = e;
  return best;
}
