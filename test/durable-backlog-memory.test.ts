/**
 * What a backlog costs in memory, and a restart with one (issue 21): the broker runs in a child
 * process (test/helpers/measured-broker.mjs) on a data folder, weighed after full collections.
 * The floors themselves (10 million messages in 256 MiB, a restart in 2 s) are measured by
 * `npm run bench -- --backlog`; this asserts the shape at a smaller scale, generously.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { connect, type Client } from '../client-sdk/index.js';

const SCRIPT = fileURLToPath(new URL('./helpers/measured-broker.mjs', import.meta.url));
const MESSAGES = 40_000;
const PAYLOAD = new Uint8Array(1024).fill(3);

interface Child {
  url: string;
  startedMs: number;
  measure(): Promise<number>;
  stop(): Promise<void>;
}

/** The measured broker on `dataDir`; `startedMs` is from spawn to listening (recovery included). */
async function start(dataDir: string): Promise<Child> {
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
      const { heapUsed, arrayBuffers } = await next();
      return heapUsed + arrayBuffers;
    },
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin.end();
      await exited;
    },
  };
}

async function publish(c: Client, topic: string, n: number, data: Uint8Array = PAYLOAD): Promise<void> {
  for (let i = 0; i < n; i += 512) {
    await Promise.all(Array.from({ length: Math.min(512, n - i) }, () => c.publish(topic, data, { mode: 'persistent', ack: 'submission' })));
  }
}

let dataDir: string;
let broker: Child | undefined;
let client: Client | undefined;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'linden-backlog-memory-'));
});
afterEach(async () => {
  await client?.close();
  await broker?.stop();
  client = broker = undefined;
  await rm(dataDir, { recursive: true, force: true });
});

test(`${MESSAGES.toLocaleString('en-US')} queued 1 KiB messages stay on disk, before and after a restart`, async () => {
  broker = await start(dataDir);
  const emptyStartMs = broker.startedMs;
  client = await connect(broker.url);
  await client.createQueue('away', 'away.>', { maxMessages: 10 * MESSAGES });
  const idle = await broker.measure();
  await publish(client, 'away.a', MESSAGES);
  const queued = (await broker.measure()) - idle;
  await client.close();
  await broker.stop();

  broker = await start(dataDir);
  client = await connect(broker.url);
  const info = (await client.admin({ op: 'queue', name: 'away' })) as { messages: number; bytes: number };
  const restarted = (await broker.measure()) - idle;
  const perMessage = (bytes: number) => Math.round(bytes / MESSAGES);
  console.log(
    `backlog of ${MESSAGES}: +${perMessage(queued)} B/message queued, +${perMessage(restarted)} B/message after a restart; ` +
    `start ${Math.round(emptyStartMs)} ms empty, ${Math.round(broker.startedMs)} ms with the backlog`,
  );
  expect(info.messages).toBe(MESSAGES);
  // In memory, each would cost its payload and more (about 1,430 B before issue 21).
  expect(queued).toBeLessThan(MESSAGES * 100);
  expect(restarted).toBeLessThan(MESSAGES * 100);
  // Recovery reads counters and a window: the start does not grow with the backlog (generous: a busy machine).
  expect(broker.startedMs).toBeLessThan(3 * emptyStartMs + 1_000);

  // And the first delivery comes from the head of the line.
  const sub = client.subscribe<Uint8Array>('away.>', { durable: 'away' });
  const first = await sub[Symbol.asyncIterator]().next();
  expect(first.value!.data).toEqual(PAYLOAD);
});

// Issue 21 asks for at most 2 KiB a queue; today an empty queue costs about 2.4 KiB and a small
// message about 1 KiB (see the report of issue 21): this keeps the figure printed and guards it
// from growing with the window (a queue of a few messages must not cost a window's worth).
test('many small queues: 2,000 queues of 3 messages each cost a few KiB a queue, not a window', async () => {
  broker = await start(dataDir);
  client = await connect(broker.url);
  const idle = await broker.measure();
  const QUEUES = 2_000;
  for (let i = 0; i < QUEUES; i += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, k) => client!.createQueue(`small-${i + k}`, `small.${i + k}`)));
  }
  const small = new Uint8Array(16);
  for (let i = 0; i < QUEUES; i += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, k) => publish(client!, `small.${i + k}`, 3, small)));
  }
  const perQueue = Math.round(((await broker.measure()) - idle) / QUEUES);
  console.log(`${QUEUES} queues of 3 messages: ${perQueue} B a queue`);
  expect(perQueue).toBeLessThanOrEqual(8 * 1024);
});
