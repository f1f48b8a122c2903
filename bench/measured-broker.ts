import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { CensusCounts } from '../server/census.js';

/** A measure of the broker after full collections (test/helpers/measured-broker.mjs). */
export interface Memory {
  heapUsed: number;
  arrayBuffers: number;
  /** Of heapUsed, the compiled code: it grows as the JIT optimises more of the broker, whatever it holds. */
  code: number;
  /** What the broker holds (server/census.ts). */
  census: CensusCounts;
  /** Timers keeping the broker's process alive. */
  timers: number;
  /** Every timer alive, unref'd ones too: only from a broker started with `all-timers`. */
  allTimers?: number;
}

export const MiB = 1024 * 1024;

/**
 * Drives test/helpers/measured-broker.mjs: a built broker in a child process started with
 * --expose-gc, weighed on request after full collections, away from the clients' allocations.
 */
export class MeasuredBroker {
  private readonly waiting: { resolve(line: string): void; reject(err: Error): void }[] = [];

  private constructor(private readonly child: ChildProcessByStdio<Writable, Readable, null>, readonly url: string) {}

  /** `script`: where measured-broker.mjs is, seen from the caller (the tests and dist/bench differ). */
  static async start(script: string, options: object = {}, flags: 'all-timers'[] = []): Promise<MeasuredBroker> {
    const child = spawn(process.execPath, ['--expose-gc', script, JSON.stringify(options), ...flags], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout });
    const first = new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', () => reject(new Error('measured broker exited before listening')));
    });
    const { url } = JSON.parse(await first) as { url: string };
    const broker = new MeasuredBroker(child, url);
    lines.on('line', (line) => broker.waiting.shift()?.resolve(line));
    child.once('exit', () => {
      for (const w of broker.waiting.splice(0)) w.reject(new Error('measured broker exited'));
    });
    return broker;
  }

  async measure(): Promise<Memory> {
    const answer = new Promise<string>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.child.stdin.write('measure\n');
    return JSON.parse(await answer) as Memory;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin.end();
    await exited;
  }
}

/** Heap and array buffers together, in MiB. */
export function mib(m: Memory): number {
  return (m.heapUsed + m.arrayBuffers) / MiB;
}

/** The same without compiled code: what the broker's data takes, in MiB. */
export function dataMib(m: Memory): number {
  return (m.heapUsed - m.code + m.arrayBuffers) / MiB;
}

export function formatMemory(m: Memory): string {
  return `heap ${(m.heapUsed / MiB).toFixed(2)} MiB (code ${(m.code / MiB).toFixed(2)}) + buffers ${(m.arrayBuffers / MiB).toFixed(2)} MiB`;
}
