import { fileURLToPath } from 'node:url';
import type { ChildTracker, NodeChild } from './child-process.js';

// The compiled CLI, exactly as `npx linden` runs it; `npm run build` must have run first.
export const CLI_MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface ServeProcess {
  child: NodeChild;
  url: string;
}

/**
 * Runs `linden serve --port 0 ...args` as a child process (tracked, so afterEach kills it) and
 * resolves with the URL it prints once it listens. Logs stay on unless args set --log-level.
 */
export async function serveProcess(children: ChildTracker, args: string[]): Promise<ServeProcess> {
  const child = children.spawn(CLI_MAIN, ['serve', '--port', '0', ...args], {}, ['LINDEN_URL', 'NODE_OPTIONS']);
  const [, url] = await child.line('stdout', /listening on (ws:\/\/\S+)$/);
  return { child, url: url! };
}
