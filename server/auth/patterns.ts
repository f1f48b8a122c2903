/*
 * Relations between patterns in the topic syntax (`*` one token, a trailing `>` one or more),
 * for permissions: a subscription pattern is allowed when an allowed pattern covers it and no
 * denied pattern overlaps it, so a wildcard can never reach past what a user was given.
 */

/** Every topic `pattern` matches is matched by `wider`. */
export function covers(wider: string, pattern: string): boolean {
  const a = wider.split('.');
  const p = pattern.split('.');
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '>') return i < p.length;
    if (i >= p.length || p[i] === '>') return false;
    if (a[i] !== '*' && a[i] !== p[i]) return false;
  }
  return a.length === p.length;
}

/** Some topic is matched by both patterns. */
export function overlaps(x: string, y: string): boolean {
  const a = x.split('.');
  const b = y.split('.');
  for (let i = 0; ; i++) {
    if (i === a.length || i === b.length) return a.length === b.length;
    if (a[i] === '>') return i < b.length;
    if (b[i] === '>') return i < a.length;
    if (a[i] !== '*' && b[i] !== '*' && a[i] !== b[i]) return false;
  }
}
