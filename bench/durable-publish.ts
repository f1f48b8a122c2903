import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect } from '../client-sdk/index.js';
import { listeningUrl } from './spawn-broker.js';
import { keepInFlight } from './in-flight.js';
import { processCpu } from './process-cpu.js';

export interface DurablePublishResult {
  messages: number;
  inFlight: number;
  payloadBytes: number;
  seconds: number;
  ackedPerSecond: number;
  /** The broker's CPU time (every thread, LMDB's writer too) per acknowledged publish, from /proc. */
  brokerCpuMicros: number;
  /** This process's CPU time per acknowledged publish: the SDK's side. */
  clientCpuMicros: number;
}

const TOPIC = 'bench.durable';
const QUEUE = 'bench-durable';

/**
 * Persistent publish throughput: one publisher keeps `inFlight` publishes with ack 'submission'
 * outstanding, starting the next as each receipt arrives. A receipt means the message is
 * committed to the broker's LMDB store, so this measures the store's group commit as much as
 * the broker. The broker runs as `linden serve --data` in a child process, on a fresh folder on
 * the same disk as the temp folder, with one durable queue so every message is really stored
 * (with none, a persistent message matches nothing and nothing is written).
 */
export async function durablePublish(messages: number, inFlight = 256, warmup = 20_000): Promise<DurablePublishResult> {
  const dataDir = await mkdtemp(join(tmpdir(), 'linden-bench-durable-'));
  const broker = await serve(dataDir);
  try {
    const publisher = await connect(broker.url, { name: 'bench-durable-pub' });
    // Room for every message: no consumer drains the queue during the run.
    await publisher.createQueue(QUEUE, TOPIC, { maxMessages: warmup + messages + inFlight, maxBytes: 2 ** 40 });
    const payload = new Uint8Array(128).fill(7);
    await keepInFlight(warmup, inFlight, () => storedPublish(() => publisher.publish(TOPIC, payload, { mode: 'persistent', ack: 'submission' })));
    const brokerCpu = processCpu(broker.pid);
    const brokerBefore = brokerCpu();
    const clientBefore = process.cpuUsage();
    const started = performance.now();
    await keepInFlight(messages, inFlight, () => storedPublish(() => publisher.publish(TOPIC, payload, { mode: 'persistent', ack: 'submission' })));
    const seconds = (performance.now() - started) / 1000;
    const brokerSeconds = brokerCpu() - brokerBefore;
    const client = process.cpuUsage(clientBefore);
    await publisher.close();
    return {
      messages, inFlight, payloadBytes: payload.length, seconds, ackedPerSecond: Math.round(messages / seconds),
      brokerCpuMicros: micros(brokerSeconds * 1e6 / messages),
      clientCpuMicros: micros((client.user + client.system) / messages),
    };
  } finally {
    await broker.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const micros = (value: number): number => Math.round(value * 100) / 100;

/**
 * One persistent publish whose receipt must name the queue: a publish stored nowhere would make
 * the figure meaningless, so it fails the run.
 */
async function storedPublish(publish: () => Promise<{ queues?: string[] }>): Promise<void> {
  const receipt = await publish();
  if (receipt.queues?.[0] !== QUEUE) throw new Error(`persistent publish was not stored in ${QUEUE}: ${JSON.stringify(receipt)}`);
}

/** `linden serve --data dir` as users run it; resolves with its URL once it listens. */
export async function serve(dataDir: string): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const main = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  const child = spawn(process.execPath, [main, 'serve', '--port', '0', '--data', dataDir, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit');
  createInterface({ input: child.stderr! }).on('line', (line) => process.stderr.write(`linden serve: ${line}\n`));
  const url = await listeningUrl(child, 'linden serve');
  return {
    url,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
