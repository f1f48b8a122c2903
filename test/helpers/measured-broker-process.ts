import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface, type Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { BrokerOptions } from '../../server/index.js';

const SCRIPT = fileURLToPath(new URL('./measured-broker.mjs', import.meta.url));
const BUILT = fileURLToPath(new URL('../../dist/server/index.js', import.meta.url));

export interface Memory {
  heapUsed: number;
  arrayBuffers: number;
}

/** A broker in a child process (measured-broker.mjs) whose memory is read after full collections. */
export class MeasuredBroker {
  private readonly lines: Interface;
  private readonly waiting: ((line: string) => void)[] = [];

  constructor(private readonly child: ChildProcessByStdio<Writable, Readable, null>) {
    this.lines = createInterface({ input: child.stdout });
    this.lines.on('line', (line) => this.waiting.shift()?.(line));
  }

  /** Throws unless the built broker it runs is there. */
  static checkBuilt(): void {
    if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run \`npm run build\` before this test`);
  }

  /** `options`: broker options on top of port 0 and logLevel silent. */
  static async start(options: BrokerOptions = {}): Promise<{ broker: MeasuredBroker; url: string }> {
    const child = spawn(process.execPath, ['--expose-gc', SCRIPT, JSON.stringify(options)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const broker = new MeasuredBroker(child);
    const { url } = JSON.parse(await broker.next()) as { url: string };
    return { broker, url };
  }

  async measure(): Promise<Memory> {
    const answer = this.next();
    this.child.stdin.write('measure\n');
    return JSON.parse(await answer) as Memory;
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin.end();
    await exited;
  }

  private next(): Promise<string> {
    return new Promise((resolve, reject) => {
      this.waiting.push(resolve);
      this.child.once('exit', () => reject(new Error('measured broker exited')));
    });
  }
}
