import { fileURLToPath } from 'node:url';
import type { ChildTracker, NodeChild } from './child-process.js';

// The compiled CLI, exactly as `npx linden` runs it; `npm run build` must have run first.
export const CLI_MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface ServeProcess {
  child: NodeChild;
  url: string;
}

/** The broker's `broker listening` log line on stdout: one JSON object (pino) holding the URL. */
export const LISTENING_LINE = /^\{.*"msg":"broker listening".*\}$/;

/** The URL in a line that LISTENING_LINE matched. */
export function listeningUrl(line: string): string {
  return (JSON.parse(line) as { url: string }).url;
}

/**
 * Runs `linden serve --port 0 ...args` as a child process (tracked, so afterEach kills it) and
 * resolves with the URL it logs once it listens. Logs stay on unless args set --log-level; the
 * listening line is written at any level but silent.
 */
export async function serveProcess(children: ChildTracker, args: string[]): Promise<ServeProcess> {
  const child = children.spawn(CLI_MAIN, ['serve', '--port', '0', ...args], {}, ['LINDEN_URL', 'NODE_OPTIONS']);
  const [line] = await child.line('stdout', LISTENING_LINE);
  return { child, url: listeningUrl(line) };
}
