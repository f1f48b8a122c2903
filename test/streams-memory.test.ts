/**
 * What a replayable stream costs in memory (issue 17): its messages stay in the store, before and
 * after a restart, and a reader reading all of them holds a window, not the stream. The broker
 * runs in a child process (test/helpers/measured-broker.mjs) on a data folder, weighed after
 * full collections, as test/durable-backlog-memory.test.ts weighs a queue's backlog.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Client } from '../client-sdk/index.js';
import { take } from './helpers/setup.js';
import { publishPersistent, startMeasuredChild as start, type MeasuredChild as Child } from './helpers/measured-child.js';

const MESSAGES = 40_000;
const PAYLOAD = new Uint8Array(1024).fill(3);

async function publish(c: Client, topic: string, n: number, data: Uint8Array = PAYLOAD): Promise<void> {
  await publishPersistent(c, topic, n, data);
}

let dataDir: string;
let broker: Child | undefined;
let client: Client | undefined;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'linden-stream-memory-'));
});
afterEach(async () => {
  await client?.close();
  await broker?.stop();
  client = broker = undefined;
  await rm(dataDir, { recursive: true, force: true });
});

const DATA_BYTES = MESSAGES * PAYLOAD.length;

test(`a stream of ${MESSAGES.toLocaleString('en-US')} 1 KiB messages stays on disk, before and after a restart and while a reader reads it all`, async () => {
  broker = await start(dataDir);
  client = await connect(broker.url);
  await client.createStream('log', 'log.>');
  const idle = (await broker.measure()).bytes;
  await publish(client, 'log.a', MESSAGES);
  const stored = (await broker.measure()).bytes - idle;
  await client.close();
  await broker.stop();

  broker = await start(dataDir);
  client = await connect(broker.url);
  expect(await client.streamInfo('log')).toMatchObject({ firstSeq: 1, lastSeq: MESSAGES, messages: MESSAGES });
  const restarted = (await broker.measure()).bytes;
  const reader = client.subscribe('log.>', { stream: 'log', reader: 'all' });
  let seen = 0;
  for (let read = 0; read < MESSAGES; read += 200) {
    const got = await take(reader, 200); // within the 256 a named reader has unacked
    for (const m of got) m.ack();
    seen += got.length;
  }
  expect(seen).toBe(MESSAGES);
  const afterRead = (await broker.measure()).bytes;
  // 40 MiB of payloads; the broker holds a few MiB at most of it at any point.
  expect({ stored: stored < DATA_BYTES / 4, afterRead: afterRead - restarted < DATA_BYTES / 4 }).toEqual({ stored: true, afterRead: true });
}, 120_000);
