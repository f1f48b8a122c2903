import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface BrokerProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts bench/broker-process.js and waits for the URL it prints. */
export async function spawnBroker(): Promise<BrokerProcess> {
  const script = fileURLToPath(new URL('./broker-process.js', import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await once(lines, 'line')) as [string];
  const { url } = JSON.parse(line) as { url: string };
  return {
    url,
    child,
    async stop() {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
