/**
 * How much of a client's value an error repeats (DESIGN.md §5 "Limits": an error echoes at most
 * a short prefix of a bad value). A 1 MB topic must not come back as a 2 MB error, and
 * describing a value must never fail, whatever the value is.
 */

/** Longest excerpt of a client's value in an error's message or details, in characters. */
export const MAX_ECHO = 64;

/** Longest `message` of an `err`, in characters: a sentence, plus excerpts of at most MAX_ECHO. */
export const MAX_ERROR_MESSAGE = 512;

/** At most `max` characters of `text`, the last one `…` when it was cut; a surrogate pair is never split. */
export function clip(text: string, max = MAX_ECHO): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return text.slice(0, end) + '…';
}

/**
 * A value as an error names it: JSON-like, at most MAX_ECHO characters, and it never throws —
 * not for a BigInt, an object with `toString` or `__proto__` keys, a timestamp, or an array
 * nested ten thousand deep (the walk stops once the text is long enough).
 */
export function preview(value: unknown): string {
  let out = '';
  const full = (): boolean => out.length > MAX_ECHO;
  const walk = (v: unknown): void => {
    if (full()) return;
    switch (typeof v) {
      case 'string':
        out += JSON.stringify(v.length > MAX_ECHO ? v.slice(0, MAX_ECHO) : v);
        return;
      case 'number':
      case 'boolean':
      case 'bigint':
        out += String(v);
        return;
      case 'undefined':
        out += 'undefined';
        return;
      case 'object':
        break;
      default:
        out += `<${typeof v}>`;
        return;
    }
    if (v === null) {
      out += 'null';
    } else if (v instanceof Uint8Array) {
      out += `<${v.length} bytes>`;
    } else if (Array.isArray(v)) {
      out += '[';
      for (let i = 0; i < v.length && !full(); i++) {
        if (i > 0) out += ',';
        walk(v[i]);
      }
      out += ']';
    } else if (isPlain(v)) {
      out += '{';
      let first = true;
      for (const key in v) {
        if (full()) break;
        if (!Object.prototype.hasOwnProperty.call(v, key)) continue;
        if (!first) out += ',';
        first = false;
        out += JSON.stringify(key.length > MAX_ECHO ? key.slice(0, MAX_ECHO) : key) + ':';
        walk((v as Record<string, unknown>)[key]);
      }
      out += '}';
    } else {
      out += v instanceof Date ? '<timestamp>' : '<not a plain value>';
    }
  };
  walk(value);
  return clip(out);
}

function isPlain(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * `details` of an `err` with every value bounded: numbers, booleans and null as they are,
 * strings clipped, arrays of a few numbers (`supported: [1]`) kept, anything else previewed.
 */
export function boundedDetails(details: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(details)) if (details[key] !== undefined) out[key] = boundedValue(details[key]);
  return out;
}

function boundedValue(v: unknown): unknown {
  if (typeof v === 'string') return clip(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return v;
  if (Array.isArray(v) && v.length <= 16 && v.every((x) => typeof x === 'number')) return v;
  return preview(v);
}
