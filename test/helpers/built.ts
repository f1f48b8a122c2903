import { existsSync } from 'node:fs';

/** Fails the suite with the fix in the message when the compiled file a test runs (the CLI, the built broker) is missing. */
export function requireBuilt(path: string): void {
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` before this test`);
}
