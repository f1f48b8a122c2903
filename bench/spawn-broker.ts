import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { BrokerOptions } from '../server/index.js';

export interface BrokerProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts bench/broker-process.js with `options` on top of its own and waits for the URL in its `broker listening` log line. */
export async function spawnBroker(options: BrokerOptions = {}): Promise<BrokerProcess> {
  const script = fileURLToPath(new URL('./broker-process.js', import.meta.url));
  const child = spawn(process.execPath, [script, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await listeningUrl(child, 'bench broker');
  return {
    url,
    child,
    async stop() {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/**
 * Reads a broker's JSON log lines on `child`'s stdout and resolves with the URL of its
 * `broker listening` line. Every other line is a warning or worse (the brokers run at level warn),
 * which a benchmark run should not hide: it goes to stderr, labelled with `who`.
 */
export function listeningUrl(child: ChildProcess, who: string): Promise<string> {
  const lines = createInterface({ input: child.stdout! });
  return new Promise<string>((resolve, reject) => {
    lines.on('line', (line) => {
      const entry = parseLogLine(line);
      if (entry?.msg === 'broker listening' && typeof entry.url === 'string') resolve(entry.url);
      else process.stderr.write(`${who}: ${line}\n`);
    });
    child.once('exit', () => reject(new Error(`${who} exited before listening`)));
  });
}

function parseLogLine(line: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
