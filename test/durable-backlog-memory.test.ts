/**
 * What a backlog costs in memory, and a restart with one (issue 21): the broker runs in a child
 * process (test/helpers/measured-broker.mjs) on a data folder, weighed after full collections.
 * The floors themselves (10 million messages in 256 MiB, a restart in 2 s) are measured by
 * `npm run bench -- --backlog`; this asserts the shape at a smaller scale, generously.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Client } from '../client-sdk/index.js';
import { publishPersistent, startMeasuredChild as start, type MeasuredChild as Child } from './helpers/measured-child.js';

const MESSAGES = 40_000;
/** 40,000 fsynced publishes and two broker starts: about 10 s alone, several times that beside other suites (seen in CI at 30 s). */
const BACKLOG_TEST_MS = 120_000;
const PAYLOAD = new Uint8Array(1024).fill(3);

async function publish(c: Client, topic: string, n: number, data: Uint8Array = PAYLOAD): Promise<void> {
  await publishPersistent(c, topic, n, data);
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
  const idle = (await broker.measure()).bytes;
  await publish(client, 'away.a', MESSAGES);
  const queued = (await broker.measure()).bytes - idle;
  await client.close();
  await broker.stop();

  broker = await start(dataDir);
  client = await connect(broker.url);
  const info = (await client.admin({ op: 'queue', name: 'away' })) as { messages: number; bytes: number };
  const restarted = (await broker.measure()).bytes - idle;
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

  // And the first delivery comes from the head of the line, ahead of the rest of the consumer's
  // maxInFlight (1,000): those are written in slices, so the first does not wait for the last
  // (before, all came in one frame: the first arrived with the thousandth).
  const subscribed = performance.now();
  const sub = client.subscribe<Uint8Array>('away.>', { durable: 'away' });
  const deliveries = sub[Symbol.asyncIterator]();
  const first = await deliveries.next();
  const firstMs = performance.now() - subscribed;
  expect(first.value!.data).toEqual(PAYLOAD);
  for (let i = 1; i < 1_000; i++) await deliveries.next();
  const thousandthMs = performance.now() - subscribed;
  console.log(`after the restart: first delivery ${firstMs.toFixed(1)} ms after the sub, the thousandth ${thousandthMs.toFixed(1)} ms`);
  expect(firstMs).toBeLessThan(thousandthMs / 2);
}, BACKLOG_TEST_MS);

// Issue 21 asks for at most 2 KiB a queue holding a few messages. Counted: the broker's V8 heap
// and array buffers after full collections, from after a warm-up (100 queues used the same way,
// so the code paths are compiled and the broker's caches made) to after 2,000 queues of three
// 16-byte persistent messages each, less compiled code: the queue, its share of the topic trie,
// route caches and rate samples, its messages with their payload bytes and dedupe-window ids.
// About 1.9 KiB a queue here (5.2 KiB before the many-small-queues work), varying by a few
// hundred bytes with when hash tables grow and the rate sampler ticks: the guard allows for that
// and keeps a queue of a few messages from costing a window's worth.
test('many small queues: 2,000 queues of 3 messages each cost about 2 KiB a queue', async () => {
  broker = await start(dataDir);
  client = await connect(broker.url);
  const small = new Uint8Array(16);
  const fill = async (prefix: string, from: number, to: number) => {
    for (let i = from; i < to; i += 100) {
      const batch = Array.from({ length: Math.min(100, to - i) }, (_, k) => i + k);
      await Promise.all(batch.map((n) => client!.createQueue(`${prefix}-${n}`, `${prefix}.${n}`)));
      await Promise.all(batch.map((n) => publish(client!, `${prefix}.${n}`, 3, small)));
    }
  };
  await fill('warm', 0, 100);
  const idle = await broker.measure();
  const QUEUES = 2_000;
  await fill('small', 0, QUEUES);
  const full = await broker.measure();
  const perQueue = Math.round((full.bytes - full.code - (idle.bytes - idle.code)) / QUEUES);
  console.log(`${QUEUES} queues of 3 messages: ${perQueue} B a queue (compiled code not counted: ${Math.round((full.code - idle.code) / QUEUES)} B a queue)`);
  expect(perQueue).toBeLessThanOrEqual(2.5 * 1024);
});
