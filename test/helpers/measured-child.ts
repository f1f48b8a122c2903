import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Client } from '../../client-sdk/index.js';

const SCRIPT = fileURLToPath(new URL('./measured-broker.mjs', import.meta.url));

/** A broker in a child process (measured-broker.mjs) on a data folder, to be weighed alone. */
export interface MeasuredChild {
  url: string;
  /** From spawn to listening, recovery included. */
  startedMs: number;
  /** heapUsed + arrayBuffers after full collections; `code`: of heapUsed, the bytes of compiled code. */
  measure(): Promise<{ bytes: number; code: number }>;
  stop(): Promise<void>;
}

export async function startMeasuredChild(dataDir: string): Promise<MeasuredChild> {
  const began = performance.now();
  const child: ChildProcessByStdio<Writable, Readable, null> = spawn(process.execPath, ['--expose-gc', SCRIPT, JSON.stringify({ dataDir })], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => JSON.parse((await lines.next()).value as string) as Record<string, number> & { url: string };
  const { url } = await next();
  const startedMs = performance.now() - began;
  return {
    url,
    startedMs,
    async measure() {
      child.stdin.write('measure\n');
      const { heapUsed, arrayBuffers, code } = await next();
      return { bytes: heapUsed + arrayBuffers, code };
    },
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin.end();
      await exited;
    },
  };
}

/** `n` persistent publishes of `data` to `topic`, 512 at a time, each acknowledged at submission. */
export async function publishPersistent(c: Client, topic: string, n: number, data: Uint8Array): Promise<void> {
  for (let i = 0; i < n; i += 512) {
    await Promise.all(Array.from({ length: Math.min(512, n - i) }, () => c.publish(topic, data, { mode: 'persistent', ack: 'submission' })));
  }
}
