import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ChildTracker, NodeChild } from './child-process.js';
import type { TestBroker } from './setup.js';

/** The compiled examples, run exactly as their header comments tell users to; `npm run build` first. */
export const EXAMPLES = fileURLToPath(new URL('../../dist/examples/', import.meta.url));

/**
 * Starts examples against the test's broker. `unsetEnv`: a developer's own settings that must not
 * steer the tests (NODE_OPTIONS, e.g. jest's --experimental-vm-modules, would add a warning on stderr).
 */
export function exampleStarter(t: TestBroker, children: ChildTracker, unsetEnv: string[]) {
  return (script: string, args: string[] = [], env: Record<string, string> = {}): NodeChild =>
    children.spawn(EXAMPLES + script, args, { ...env, LINDEN_URL: t.broker.url }, [...unsetEnv, 'NODE_OPTIONS']);
}

/** Fails early with a clear message when the examples were not compiled. */
export function requireCompiledExample(script: string): void {
  if (!existsSync(EXAMPLES + script)) throw new Error(`no compiled examples in ${EXAMPLES}: run \`npm run build\` first`);
}

/** Order ids in a consumer's "processed order #N" lines, in the order it printed them. */
export function processedIds(stdout: string): number[] {
  return [...stdout.matchAll(/^processed order #(\d+): \d+ x \w+$/gm)].map((m) => Number(m[1]));
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}
