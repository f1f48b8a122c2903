import { Ajv } from 'ajv';
import { assertPattern } from '../../protocol/topics.js';
import { LindenError } from '../../protocol/errors.js';
import type { PermissionsConfig } from './permissions.js';
import { PERMISSIONS_SCHEMA, type AuthOptions } from './auth-schema.js';
import { secretProblem } from './secrets.js';

/** Patterns that are not in the topic syntax, each named by its path. */
function patternProblems(p: PermissionsConfig | undefined, at: string): string[] {
  const problems: string[] = [];
  for (const [kind, rules] of Object.entries(p ?? {})) {
    if (typeof rules !== 'object' || rules === null) continue;
    for (const [list, values] of Object.entries(rules as Record<string, string[]>)) {
      values.forEach((pattern, i) => {
        try {
          assertPattern(pattern);
        } catch (err) {
          problems.push(`${at}.${kind}.${list}[${i}]: ${(err as Error).message}`);
        }
      });
    }
  }
  return problems;
}

const permissionsShape = new Ajv().compile(PERMISSIONS_SCHEMA);

/** A permissions object from outside the config (a JWT claim), checked as strictly as the config. */
export function permissionsFrom(value: unknown): PermissionsConfig {
  if (!permissionsShape(value)) throw new Error(`the "permissions" claim is not a permissions object: ${permissionsShape.errors?.[0]?.message ?? ''}`);
  const problems = patternProblems(value as PermissionsConfig, 'permissions');
  if (problems.length > 0) throw new Error(`the "permissions" claim has a bad pattern: ${problems[0]}`);
  return value as PermissionsConfig;
}

/**
 * What JSON Schema cannot say: patterns in the topic syntax, secrets in a known form, one user
 * per name, and a way in for each user. Each problem is `<path>: <what is wrong>`.
 */
export function authProblems(auth: AuthOptions): string[] {
  const problems = patternProblems(auth.anonymousPermissions, 'auth.anonymousPermissions');
  const seen = new Set<string>();
  (auth.users ?? []).forEach((u, i) => {
    const at = `auth.users[${i}]`;
    if (seen.has(u.user)) problems.push(`${at}.user: "${u.user}" appears twice`);
    seen.add(u.user);
    if (u.password === undefined && u.token === undefined) problems.push(`${at}: needs a password or a token`);
    for (const kind of ['password', 'token'] as const) {
      const problem = u[kind] === undefined ? undefined : secretProblem(u[kind]!, kind);
      if (problem) problems.push(`${at}.${kind}: ${problem}`);
    }
    problems.push(...patternProblems(u.permissions, `${at}.permissions`));
  });
  return problems;
}

/** authProblems() as INVALID_OPTIONS. */
export function checkAuth(auth: AuthOptions): void {
  const problems = authProblems(auth);
  if (problems.length > 0) throw new LindenError('INVALID_OPTIONS', `invalid broker options: ${problems.join('; ')}`, { problems });
}
