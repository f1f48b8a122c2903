/**
 * Replayable streams across restarts (issue 17): a real LMDB data folder kept between two
 * brokers, then a `linden serve` child process killed with SIGKILL (as durable-crash.test.ts
 * does): definitions, messages, their seqs and times and named readers' positions come back.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Client } from '../client-sdk/index.js';
import { requireBuilt } from './helpers/built.js';
import { ChildTracker } from './helpers/child-process.js';
import { CLI_MAIN, serveProcess } from './helpers/serve-process.js';
import { take, testBroker, until } from './helpers/setup.js';

const t = testBroker();
const children = new ChildTracker();
let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'linden-streams-restart-'));
});
afterEach(async () => {
  await t.cleanup();
  await children.killAll();
  await rm(dataDir, { recursive: true, force: true });
});

type N = { n: number };
const persist = { mode: 'persistent', ack: 'submission' } as const;

async function publishAll(c: Client, topic: string, from: number, to: number): Promise<void> {
  for (let n = from; n < to; n++) await c.publish(topic, { n }, persist);
}

test('streams, their messages, seqs, times, limits and named readers\' positions survive a restart of the broker', async () => {
  await t.start({ dataDir });
  let c = await t.client();
  await c.createStream('log', 'log.>', { maxMessages: 50 });
  await publishAll(c, 'log.a', 0, 6);
  await new Promise((r) => setTimeout(r, 5)); // a later append time for the { time } start
  const mark = Date.now();
  await publishAll(c, 'log.b', 6, 10);
  const reader = await take(c.subscribe<N>('log.>', { stream: 'log', reader: 'r1' }), 6);
  for (const m of reader.slice(0, 4)) m.ack(); // 5 and 6 stay unacked
  let info = await c.streamInfo('log');
  await until(() => info.readers[0]?.position === 5, 5_000, async () => {
    info = await c.streamInfo('log');
  });
  const times = (await take(c.subscribe<N>('log.>', { stream: 'log' }), 10)).map((m) => m.time);
  await t.cleanup();

  await t.start({ dataDir });
  c = await t.client();
  expect(await c.streamInfo('log')).toMatchObject({
    pattern: 'log.>', firstSeq: 1, lastSeq: 10, messages: 10, config: { maxMessages: 50, discard: 'old' },
    readers: [{ name: 'r1', position: 5, lag: 6, connected: false, unacked: 0 }],
  });
  const all = await take(c.subscribe<N>('log.>', { stream: 'log' }), 10);
  expect(all.map((m) => [m.seq, m.data.n])).toEqual(Array.from({ length: 10 }, (_, i) => [i + 1, i]));
  expect(all.map((m) => m.time)).toEqual(times);
  expect((await take(c.subscribe<N>('log.>', { stream: 'log', start: { seq: 8 } }), 3)).map((m) => m.seq)).toEqual([8, 9, 10]);
  expect((await take(c.subscribe<N>('log.>', { stream: 'log', start: { time: mark } }), 4)).map((m) => m.data.n)).toEqual([6, 7, 8, 9]);
  // The named reader resumes at its first unacked message, then follows new ones.
  const resumed = c.subscribe<N>('log.>', { stream: 'log', reader: 'r1' });
  expect((await take(resumed, 6)).map((m) => m.seq)).toEqual([5, 6, 7, 8, 9, 10]);
  // Seqs go on from where they were, and the limits still hold.
  await publishAll(c, 'log.c', 10, 56);
  expect(await c.streamInfo('log')).toMatchObject({ firstSeq: 7, lastSeq: 56, messages: 50 });
  expect((await take(resumed, 46)).map((m) => m.seq)).toEqual(Array.from({ length: 46 }, (_, i) => i + 11));
});

test('a deleted stream stays deleted after a restart', async () => {
  await t.start({ dataDir });
  const c = await t.client();
  await c.createStream('gone', 'g');
  await publishAll(c, 'g', 0, 3);
  await c.deleteStream('gone');
  await t.cleanup();
  await t.start({ dataDir });
  const again = await t.client();
  await expect(again.streamInfo('gone')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  expect(await again.admin({ op: 'streams' })).toEqual([]);
});

test('every message whose receipt came survives a SIGKILL of `linden serve`, in order, and a named reader resumes at or before its acks', async () => {
  requireBuilt(CLI_MAIN);
  let broker = await serveProcess(children, ['--data', dataDir, '--log-level', 'warn']);
  let c = await connect(broker.url, { reconnect: false });
  await c.createStream('crash', 'crash.>');
  let stored = 0;
  let acked = 0;
  // Acks the first 200 in order and holds the rest unacked.
  const reader = c.subscribe<N>('crash.>', { stream: 'crash', reader: 'r' });
  void (async () => {
    for await (const m of reader) {
      if (m.seq! > 200) continue;
      m.ack();
      acked = m.seq!;
    }
  })().catch(() => undefined);
  await reader.ready;
  const inFlight = new Set<Promise<unknown>>();
  let killed = false;
  const publishing = (async () => {
    for (let n = 0; ; n++) {
      const p = c.publish('crash.x', { n }, persist).then(() => {
        stored = Math.max(stored, n + 1);
      }, () => undefined);
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
      if (inFlight.size >= 32) await Promise.race(inFlight);
      if (killed) return;
    }
  })();
  await until(() => stored >= 500, 20_000);
  broker.child.child.kill('SIGKILL');
  killed = true; // publishes failing at once would otherwise keep the loop in microtasks
  await publishing;
  await broker.child.exited.catch(() => undefined);
  await c.close();

  broker = await serveProcess(children, ['--data', dataDir, '--log-level', 'warn']);
  c = await connect(broker.url, { reconnect: false });
  try {
    const info = await c.streamInfo('crash');
    // Receipts come in publish order per connection: every n below `stored` was acknowledged stored.
    expect(info.lastSeq).toBeGreaterThanOrEqual(stored);
    const all = await take(c.subscribe<N>('crash.>', { stream: 'crash' }), info.messages);
    expect(all.map((m) => m.seq)).toEqual(Array.from({ length: info.messages }, (_, i) => i + 1));
    expect(all.map((m) => m.data.n)).toEqual(Array.from({ length: info.messages }, (_, i) => i));
    // Positions are stored without waiting (as acks are): the reader resumes at or before what it acked, never past it.
    const position = info.readers[0]!.position;
    expect(position).toBeLessThanOrEqual(acked + 1);
    expect(position).toBeGreaterThan(1); // acks made long before the kill were stored
    const [first] = await take(c.subscribe<N>('crash.>', { stream: 'crash', reader: 'r' }), 1);
    expect(first!.seq).toBe(position);
  } finally {
    await c.close();
  }
});
