import { LindenError } from './errors.js';

/**
 * Space and queue names: letters, digits and `_ . : -`, not starting with `. : -`, at most 128
 * characters, so they are safe in logs, metrics and CLI arguments. The broker's schemas
 * (frames.ts), the SDK and the CLI all check this one pattern.
 */
export const NAME_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$';

const NAME = new RegExp(NAME_PATTERN);

/** Throws INVALID_ARGUMENT unless `name` can name a space or a queue. */
export function assertName(kind: 'space' | 'queue' | 'stream', name: string): void {
  if (!NAME.test(name)) {
    throw new LindenError('INVALID_ARGUMENT', `invalid ${kind} name "${name}": letters, digits and _ . : - only, at most 128, not starting with . : -`, { name });
  }
}

/**
 * The one wording of "no such queue, space or connection": the broker's NOT_FOUND messages and
 * HTTP 404s say it, and the CLI adds where it asked (`... does not exist on the broker at <url>`).
 */
export function doesNotExist(kind: 'queue' | 'space' | 'connection' | 'stream', name: string): string {
  return `${kind} "${name}" does not exist`;
}
