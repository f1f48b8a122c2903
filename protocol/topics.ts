import { clip, preview } from './echo.js';
import { LindenError } from './errors.js';

/** Longest topic or pattern, in UTF-16 code units. */
export const MAX_TOPIC_LENGTH = 512;

// Whitespace and control characters are never part of a token; `*` and `>` only stand alone.
const FORBIDDEN = /[\s\u0000-\u001f\u007f*>]/;

function checkTokens(value: string, allowWildcards: boolean): string | undefined {
  if (value.length === 0) return 'is empty';
  if (value.length > MAX_TOPIC_LENGTH) return `is longer than ${MAX_TOPIC_LENGTH} characters`;
  const tokens = value.split('.');
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.length === 0) return `has an empty token at position ${i}`;
    if (allowWildcards && token === '*') continue;
    if (allowWildcards && token === '>') {
      if (i !== tokens.length - 1) return '`>` may only be the last token';
      continue;
    }
    if (FORBIDDEN.test(token)) {
      return allowWildcards
        ? `token ${preview(token)} mixes a wildcard or whitespace with other characters`
        : `token ${preview(token)} contains a wildcard or whitespace`;
    }
  }
  return undefined;
}

/** Throws INVALID_TOPIC unless `topic` is a concrete, dot-separated topic. */
export function assertTopic(topic: string): void {
  const problem = checkTokens(topic, false);
  if (problem) throw new LindenError('INVALID_TOPIC', `invalid topic ${preview(topic)}: ${problem}`, { topic: clip(topic) });
}

/** Throws INVALID_PATTERN unless `pattern` is a valid subscription pattern (`*`, trailing `>`). */
export function assertPattern(pattern: string): void {
  const problem = checkTokens(pattern, true);
  if (problem) throw new LindenError('INVALID_PATTERN', `invalid pattern ${preview(pattern)}: ${problem}`, { pattern: clip(pattern) });
}
