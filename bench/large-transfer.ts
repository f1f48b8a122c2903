import { randomFillSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { connect, type Message } from '../client-sdk/index.js';
import { spawnBroker } from './spawn-broker.js';
import { quantile } from './quantile.js';
import { processCpu } from './process-cpu.js';

export interface LatencySummary {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Requests that failed (timed out or were refused); none is expected. */
  errors: number;
}

export interface LargeTransferResult {
  messageBytes: number;
  runs: number;
  /** Publish call to the whole message decoded at the subscriber, per run. */
  mibPerSecond: number[];
  bestMibPerSecond: number;
  medianMibPerSecond: number;
  /**
   * CPU time per run, median: the broker's (from /proc), and this process's (publisher and
   * subscriber, plus the pinger's few requests). Steadier than the rate on a shared machine.
   */
  cpuMs: { broker: number; clients: number };
  broker: {
    idleRssMiB: number;
    /** Highest VmHWM over the runs. */
    peakRssMiB: number;
    peakOverIdleMiB: number;
    /** (peak - idle) / message size. */
    peakOverIdleRatio: number;
    /** Whether the kernel's peak could be reset before each run (/proc/<pid>/clear_refs); otherwise it is the process's lifetime peak. */
    peakPerRun: boolean;
  };
  /** 100 B request/reply round trips between two other clients, one started every 2 ms. */
  smallRequests: { idle: LatencySummary; duringTransfer: LatencySummary };
}

const TOPIC = 'bench.large';
const PING_TOPIC = 'bench.large.ping';
const PING_BYTES = 100;
const PING_INTERVAL_MS = 2;
const PINGER_ROLE = 'large-transfer-pinger';
/** A stalled transfer fails the run instead of hanging it. */
const TRANSFER_TIMEOUT_MS = 60_000;
const MiB = 1024 * 1024;

type PingerCommand = 'start' | 'stop' | 'close';
type PingerReport = { ready: true } | { samples: number[]; errors: number } | { closed: true };

/**
 * One 50 MiB message from a publisher to a subscriber, `runs` times, through a broker in a
 * child process so its memory can be read alone from /proc. Meanwhile a second pair of clients
 * keeps small requests going; their latency during the transfers is compared with a quiet
 * period before them. That pair runs in a worker thread: on the benchmark's own event loop
 * its timings would include the big pair's client-side copies and decoding, which say nothing
 * about the broker. All three share this machine's cores with the broker.
 */
export async function largeTransfer(runs: number, messageBytes = 50 * MiB, quietMs = 1_000): Promise<LargeTransferResult> {
  const broker = await spawnBroker();
  const pid = broker.child.pid!;
  const pinger = new Pinger(broker.url);
  try {
    const publisher = await connect(broker.url, { name: 'bench-large-pub' });
    const subscriber = await connect(broker.url, { name: 'bench-large-sub' });
    let arrived: ((msg: Message<Uint8Array>) => void) | undefined;
    const sub = subscriber.subscribe<Uint8Array>(TOPIC, { callback: (msg) => arrived?.(msg) });
    await sub.ready;
    await pinger.ready;

    // The quiet period also serves as the idle reference: every client connected, no large message yet.
    const idle = summarize(await pinger.during(() => new Promise((resolve) => setTimeout(resolve, quietMs))));
    const idleRss = procStatus(pid).rssKiB;

    const payload = Buffer.allocUnsafe(messageBytes);
    randomFillSync(payload); // incompressible and not all zeros, so no layer can take a shortcut
    const rates: number[] = [];
    const brokerCpu = processCpu(pid);
    const cpu = { broker: [] as number[], clients: [] as number[] };
    const during: PingBatch = { samples: [], errors: 0 };
    let peakKiB = 0;
    let peakPerRun = true;
    for (let run = 0; run < runs; run++) {
      peakPerRun = resetPeak(pid) && peakPerRun;
      let seconds = 0;
      const cpu0 = { broker: brokerCpu(), clients: process.cpuUsage() };
      const batch = await pinger.during(async () => {
        const got = new Promise<Message<Uint8Array>>((resolve) => { arrived = resolve; });
        const started = performance.now();
        const receipt = publisher.publish(TOPIC, payload, { ack: 'delivery', timeout: TRANSFER_TIMEOUT_MS });
        const msg = await withTimeout(got, TRANSFER_TIMEOUT_MS, `the ${messageBytes}-byte message did not arrive`);
        const data = msg.data;
        seconds = (performance.now() - started) / 1000;
        check(data, payload);
        const { delivered } = await receipt;
        if (delivered !== 1) throw new Error(`receipt says delivered=${delivered}`);
      });
      cpu.broker.push((brokerCpu() - cpu0.broker) * 1000);
      const used = process.cpuUsage(cpu0.clients);
      cpu.clients.push((used.user + used.system) / 1000);
      during.samples.push(...batch.samples);
      during.errors += batch.errors;
      peakKiB = Math.max(peakKiB, procStatus(pid).hwmKiB);
      rates.push(messageBytes / MiB / seconds);
    }
    await Promise.all([publisher.close(), subscriber.close()]);

    const sorted = [...rates].sort((a, b) => a - b);
    const peakOverIdle = (peakKiB - idleRss) * 1024;
    return {
      messageBytes,
      runs,
      mibPerSecond: rates.map(round1),
      bestMibPerSecond: round1(sorted.at(-1)!),
      medianMibPerSecond: round1(sorted[Math.floor(sorted.length / 2)]!),
      cpuMs: { broker: Math.round(median(cpu.broker)), clients: Math.round(median(cpu.clients)) },
      broker: {
        idleRssMiB: round1(idleRss / 1024),
        peakRssMiB: round1(peakKiB / 1024),
        peakOverIdleMiB: round1(peakOverIdle / MiB),
        peakOverIdleRatio: Math.round((peakOverIdle / messageBytes) * 100) / 100,
        peakPerRun,
      },
      smallRequests: { idle, duringTransfer: summarize(during) },
    };
  } finally {
    await pinger.close();
    await broker.stop();
  }
}

interface PingBatch {
  samples: number[];
  errors: number;
}

/** The worker thread running the small-request pair, driven by start/stop messages. */
class Pinger {
  readonly ready: Promise<void>;
  private readonly worker: Worker;
  private readonly reports: PingerReport[] = [];
  private waiting: (() => void) | undefined;
  private failed: Error | undefined;

  constructor(url: string) {
    this.worker = new Worker(new URL(import.meta.url), { workerData: { role: PINGER_ROLE, url } });
    this.worker.on('message', (report: PingerReport) => { this.reports.push(report); this.wake(); });
    this.worker.on('error', (err) => { this.failed = err; this.wake(); });
    this.worker.on('exit', (code) => { this.failed ??= new Error(`pinger exited with code ${code}`); this.wake(); });
    this.ready = this.next().then(() => undefined);
    this.ready.catch(() => undefined); // awaited later; a failure before then must not count as unhandled
  }

  /** Pings while `work` runs; resolves with the round trips of the requests started meanwhile. */
  async during(work: () => Promise<unknown>): Promise<PingBatch> {
    this.send('start');
    try {
      await work();
    } finally {
      this.send('stop');
    }
    return (await this.next()) as PingBatch;
  }

  async close(): Promise<void> {
    if (this.failed) return;
    this.send('close');
    await this.next().catch(() => undefined);
    await this.worker.terminate();
  }

  private send(command: PingerCommand): void {
    this.worker.postMessage(command);
  }

  private async next(): Promise<PingerReport> {
    while (this.reports.length === 0) {
      if (this.failed) throw this.failed;
      await new Promise<void>((resolve) => { this.waiting = resolve; });
    }
    return this.reports.shift()!;
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }
}

/**
 * The worker's side: a responder echoing requests and a requester starting one every 2 ms
 * between `start` and `stop`, whether or not earlier ones have come back, so a stall shows
 * as many slow requests instead of hiding behind one (no coordinated omission).
 */
async function runPinger(url: string): Promise<void> {
  const port = parentPort!;
  const responder = await connect(url, { name: 'bench-ping-responder' });
  const requester = await connect(url, { name: 'bench-ping-requester' });
  const sub = responder.subscribe(PING_TOPIC, { callback: (msg) => msg.reply(msg.data) });
  await sub.ready;
  const payload = new Uint8Array(PING_BYTES).fill(3);
  for (let i = 0; i < 500; i++) await requester.request(PING_TOPIC, payload); // warm-up: JIT
  let batch: PingBatch = { samples: [], errors: 0 };
  let inFlight = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  let report: (() => void) | undefined;
  const settled = () => { if (--inFlight === 0) report?.(); };
  port.on('message', (command: PingerCommand) => {
    if (command === 'start') {
      batch = { samples: [], errors: 0 };
      const current = batch;
      timer = setInterval(() => {
        const t0 = performance.now();
        inFlight++;
        requester.request(PING_TOPIC, payload, { timeout: 10_000 }).then(
          () => current.samples.push(performance.now() - t0),
          () => current.errors++,
        ).finally(settled);
      }, PING_INTERVAL_MS);
    } else if (command === 'stop') {
      clearInterval(timer);
      // Requests started before `stop` belong to the batch: report once the last has come back.
      report = () => { report = undefined; port.postMessage(batch); };
      if (inFlight === 0) report();
    } else {
      void Promise.all([responder.close(), requester.close()]).then(() => port.postMessage({ closed: true }));
    }
  });
  port.postMessage({ ready: true });
}

function summarize({ samples, errors }: PingBatch): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => round1(quantile(sorted, q));
  return { samples: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: round1(sorted.at(-1) ?? NaN), errors };
}

/** VmRSS (now) and VmHWM (peak) of a process, in KiB. */
function procStatus(pid: number): { rssKiB: number; hwmKiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
}

/** Resets a process's VmHWM to its current RSS (Linux >= 4.0); false where that is not allowed. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** A wrong byte anywhere would make the figures meaningless: compare the whole message. */
function check(data: Uint8Array, sent: Buffer): void {
  if (data.length !== sent.length || !sent.equals(data)) throw new Error(`the message arrived altered (${data.length} of ${sent.length} bytes)`);
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

// This module is also the pinger's worker script: loaded in a worker with its role, it pings.
if (!isMainThread && (workerData as { role?: string } | null)?.role === PINGER_ROLE) {
  await runPinger((workerData as { url: string }).url);
}
