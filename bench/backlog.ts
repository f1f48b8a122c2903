import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../client-sdk/index.js';
import { MAX_QUEUE_BYTES } from '../protocol/limits.js';
import { serve } from './durable-publish.js';
import { keepInFlight } from './in-flight.js';

export interface BacklogResult {
  messages: number;
  payloadBytes: number;
  publishPerSecond: number;
  /** Broker anonymous RSS (heap and buffers, not the LMDB map) with the backlog queued. */
  rssAnonMiB: number;
  /** From spawning `linden serve` on the folder to a persistent publish acknowledged. */
  restartSeconds: number;
  rssAnonAfterRestartMiB: number;
  /** From `sub` to the first delivery, after the restart. */
  firstDeliveryMs: number;
  /** One consumer acknowledging every message, the backlog read from disk. */
  drainPerSecond: number;
}

const TOPIC = 'bench.backlog';
const QUEUE = 'bench-backlog';

/**
 * A durable queue's consumer is away (issue 21): `messages` persistent 1 KiB messages are
 * queued with no consumer, then the broker (`linden serve --data`, a child process) is measured:
 * its anonymous RSS, a restart on the same folder until a publish is acknowledged, the first
 * delivery after a `sub`, and one acknowledging consumer draining the backlog from disk.
 */
export async function backlog(messages: number, payloadBytes = 1024): Promise<BacklogResult> {
  const dataDir = await mkdtemp(join(tmpdir(), 'linden-bench-backlog-'));
  try {
    let broker = await serve(dataDir);
    let client = await connect(broker.url, { name: 'bench-backlog' });
    await client.createQueue(QUEUE, TOPIC, { maxMessages: messages + 10, maxBytes: MAX_QUEUE_BYTES, maxInFlight: 1_000 });
    const payload = new Uint8Array(payloadBytes).fill(7);
    const started = performance.now();
    await keepInFlight(messages, 1_024, () => client.publish(TOPIC, payload, { mode: 'persistent', ack: 'submission' }));
    const publishPerSecond = Math.round(messages / ((performance.now() - started) / 1000));
    const rssAnonMiB = await rssAnon(broker.pid);
    await client.close();
    await broker.stop();

    const restarting = performance.now();
    broker = await serve(dataDir);
    client = await connect(broker.url, { name: 'bench-backlog' });
    await client.publish(TOPIC, payload, { mode: 'persistent', ack: 'submission' });
    const restartSeconds = round((performance.now() - restarting) / 1000, 2);
    const rssAnonAfterRestartMiB = await rssAnon(broker.pid);

    const total = messages + 1;
    const subscribed = performance.now();
    let firstDeliveryMs = 0;
    let drainStarted = 0;
    let received = 0;
    const sub = client.subscribe(TOPIC, { durable: QUEUE });
    for await (const m of sub) {
      if (received === 0) {
        firstDeliveryMs = round(performance.now() - subscribed, 1);
        drainStarted = performance.now();
      }
      m.ack();
      if (++received === total) break;
    }
    const drainPerSecond = Math.round((total - 1) / ((performance.now() - drainStarted) / 1000));
    await client.close();
    await broker.stop();
    return { messages, payloadBytes, publishPerSecond, rssAnonMiB, restartSeconds, rssAnonAfterRestartMiB, firstDeliveryMs, drainPerSecond };
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function rssAnon(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return round(kib / 1024, 1);
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
