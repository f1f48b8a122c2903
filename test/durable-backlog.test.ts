/**
 * A durable queue on disk keeps a window of its ready messages in memory and the rest in the
 * store (issue 21, DESIGN.md §5 "Backlog"). These queues hold a few windows' worth, so every
 * path that reaches past the window runs: order, redelivery counts, counters across a restart,
 * peek, purge, drop-oldest, deleting a queue and making a namesake.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client, Message } from '../client-sdk/index.js';
import { QUEUE_WINDOW } from '../server/pubsub/durable/durable-core.js';
import { LmdbStore } from '../server/store/lmdb-store.js';
import { take, testBroker } from './helpers/setup.js';

const t = testBroker();
let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'linden-backlog-'));
});
afterEach(async () => {
  await t.cleanup();
  await rm(dataDir, { recursive: true, force: true });
});

/** Three windows and a bit: the backlog is refilled several times on the way through. */
const N = 3 * QUEUE_WINDOW + 100;

async function restart(): Promise<Client> {
  await t.cleanup();
  await t.start({ dataDir });
  return t.client();
}

/** Publishes n[from..to) as persistent messages, 256 at a time, each stored before the next batch. */
async function publish(c: Client, topic: string, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i += 256) {
    const batch = [];
    for (let n = i; n < Math.min(to, i + 256); n++) batch.push(c.publish(topic, { n, pad: 'x'.repeat(100) }, { mode: 'persistent', ack: 'submission' }));
    await Promise.all(batch);
  }
}

async function view(c: Client, name: string, peek?: number): Promise<{ depth: number; messages: number; bytes: number; peek?: { data: { n: number } }[] }> {
  return (await c.admin({ op: 'queue', name, ...(peek ? { peek } : {}) })) as never;
}

/** Resolves once `check` holds, asking again after each answer; rejects after 10 s. */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) if (Date.now() > deadline) throw new Error('condition not met in time');
}

/** Takes `count` deliveries as they come, acking each (or nacking those `nack` picks). */
async function consume(messages: AsyncIterable<Message<{ n: number }>>, count: number, nack?: (n: number, dc: number) => boolean): Promise<Array<[number, number]>> {
  const seen: Array<[number, number]> = [];
  const it = messages[Symbol.asyncIterator]();
  while (seen.length < count) {
    const { value: m, done } = await it.next();
    if (done) break;
    seen.push([m.data.n, m.deliveryCount]);
    if (nack?.(m.data.n, m.deliveryCount)) m.nack();
    else m.ack();
  }
  return seen;
}

test('a backlog past the window keeps its order, counters and delivery counts across a restart', async () => {
  await t.start({ dataDir });
  let c = await t.client();
  await c.createQueue('work', 'work.>', { maxInFlight: 50 });
  await publish(c, 'work.a', 0, N);
  const before = await view(c, 'work', 3);
  expect(before).toMatchObject({ depth: N, messages: N });
  expect(before.peek!.map((m) => m.data.n)).toEqual([0, 1, 2]);

  // Some taken and left unacked: they come back first after the restart, counted.
  const first = c.subscribe<{ n: number }>('work.>', { durable: 'work' });
  const got = await take(first, 10);
  got.slice(0, 5).forEach((m) => m.ack());
  await c.flush();
  let acked;
  do acked = await view(c, 'work'); while (acked.messages > N - 5);

  c = await restart();
  const after = await view(c, 'work', 2);
  expect(after).toMatchObject({ depth: N - 5, messages: N - 5, bytes: acked.bytes });
  expect(after.peek!.map((m) => m.data.n)).toEqual([5, 6]);
  const sub = c.subscribe<{ n: number }>('work.>', { durable: 'work' });
  // Every 500th is nacked once: it comes back, counted, among the ones after it.
  const nacked = Array.from({ length: Math.floor((N - 1) / 500) }, (_, i) => (i + 1) * 500);
  const seen = await consume(sub, N - 5 + nacked.length, (n, dc) => n % 500 === 0 && dc === 1);
  const firstTime = seen.filter(([n, dc]) => !(n % 500 === 0 && dc === 2));
  expect(firstTime.map(([n]) => n)).toEqual(Array.from({ length: N - 5 }, (_, i) => i + 5));
  expect(seen.slice(0, 5)).toEqual([[5, 2], [6, 2], [7, 2], [8, 2], [9, 2]]);
  expect(seen.filter(([n]) => n % 500 === 0).map(([n, dc]) => `${n}:${dc}`).sort()).toEqual(nacked.flatMap((n) => [`${n}:1`, `${n}:2`]).sort());
  await c.flush();
  expect(await view(c, 'work')).toMatchObject({ depth: 0, messages: 0, bytes: 0 });
});

/** Entries under `prefix` in the stopped broker's store. */
async function stored(prefix: string[]): Promise<number> {
  await t.cleanup();
  const store = await LmdbStore.open(dataDir);
  try {
    return store.range(prefix).length;
  } finally {
    await store.close();
  }
}

test('a first delivery writes no count record, a redelivery does, and every record leaves with its message', async () => {
  await t.start({ dataDir });
  let c = await t.client();
  await c.createQueue('counted', 'counted.>', { maxInFlight: 20 });
  await c.createQueue('brief', 'brief.>', { maxInFlight: 20 });
  await publish(c, 'counted.a', 0, N);
  const briefly = [];
  for (let n = 0; n < 40; n++) briefly.push(c.publish('brief.a', { n }, { mode: 'persistent', ack: 'submission', ttl: 1_000 }));
  await Promise.all(briefly);
  // Ten delivered twice (nacked once), ten once, all left unacked; twenty of the ttl queue once.
  const counted = c.subscribe<{ n: number }>('counted.>', { durable: 'counted' });
  const once = await take(counted, 20);
  once.slice(0, 10).forEach((m) => m.nack());
  expect((await take(counted, 10)).map((m) => [m.data.n, m.deliveryCount])).toEqual(Array.from({ length: 10 }, (_, n) => [n, 2]));
  await take(c.subscribe('brief.>', { durable: 'brief' }), 20);
  await c.flush();
  expect(await stored(['n'])).toBe(10);

  // The counts come back after a restart; the ttl queue's records go when the ttl ends, the
  // others with a purge, and none is left behind.
  c = await restart();
  const head = (await view(c, 'counted', 21)).peek!;
  expect(head.map((m) => (m as unknown as { deliveries: number }).deliveries)).toEqual([...Array(10).fill(2), ...Array(10).fill(1), 0]);
  await eventually(async () => (await view(c, 'brief')).depth === 0);
  expect(await c.admin({ op: 'purge', name: 'counted' })).toEqual({ purged: N });
  expect(await stored(['n'])).toBe(0);
  expect(await stored(['m'])).toBe(0);
});

test('deliveries an unsubscribe gave back stay uncounted across a restart', async () => {
  await t.start({ dataDir });
  let c = await t.client();
  await c.createQueue('back', 'back.>', { maxInFlight: 3 });
  await publish(c, 'back.a', 0, 5);
  const sub = c.subscribe<{ n: number }>('back.>', { durable: 'back' });
  await take(sub, 3);
  await sub.unsubscribe();
  await c.flush();
  c = await restart();
  const seen = await consume(c.subscribe<{ n: number }>('back.>', { durable: 'back' }), 5);
  expect(seen).toEqual([[0, 1], [1, 1], [2, 1], [3, 1], [4, 1]]);
});

test('publishes while the window drains land behind the backlog, in order', async () => {
  await t.start({ dataDir });
  const c = await t.client();
  await c.createQueue('live', 'live.>', { maxInFlight: 100 });
  await publish(c, 'live.a', 0, N);
  const sub = c.subscribe<{ n: number }>('live.>', { durable: 'live' });
  const [seen] = await Promise.all([consume(sub, N + 1_000), publish(c, 'live.a', N, N + 1_000)]);
  expect(seen.map(([n]) => n)).toEqual(Array.from({ length: N + 1_000 }, (_, i) => i));
});

test('purge empties the backlog on disk too, and the queue goes on', async () => {
  await t.start({ dataDir });
  let c = await t.client();
  await c.createQueue('bulk', 'bulk.>');
  await publish(c, 'bulk.a', 0, N);
  expect(await c.admin({ op: 'purge', name: 'bulk' })).toEqual({ purged: N });
  expect(await view(c, 'bulk')).toMatchObject({ depth: 0, messages: 0, bytes: 0 });
  c = await restart();
  expect(await view(c, 'bulk')).toMatchObject({ depth: 0, messages: 0, bytes: 0 });
  await publish(c, 'bulk.a', N, N + 3);
  expect((await consume(c.subscribe<{ n: number }>('bulk.>', { durable: 'bulk' }), 3)).map(([n]) => n)).toEqual([N, N + 1, N + 2]);
});

test('drop-oldest drops from the head of a backlog on disk', async () => {
  await t.start({ dataDir });
  let c = await t.client();
  const max = 2 * QUEUE_WINDOW;
  await c.createQueue('lossy', 'lossy.>', { maxMessages: max, overflow: 'drop-oldest' });
  await publish(c, 'lossy.a', 0, N);
  expect(await view(c, 'lossy')).toMatchObject({ depth: max, messages: max });
  c = await restart();
  expect((await view(c, 'lossy', 1)).peek![0]!.data.n).toBe(N - max);
  const seen = await consume(c.subscribe<{ n: number }>('lossy.>', { durable: 'lossy' }), max);
  expect(seen.map(([n]) => n)).toEqual(Array.from({ length: max }, (_, i) => N - max + i));
});

test('a queue deleted with a backlog leaves nothing to a namesake, before or after a restart', async () => {
  await t.start({ dataDir });
  let c = await t.client();
  await c.createQueue('gone', 'gone.>');
  await publish(c, 'gone.a', 0, N);
  await c.deleteQueue('gone');
  await c.createQueue('gone', 'gone.>');
  await publish(c, 'gone.a', N, N + 2);
  expect(await view(c, 'gone')).toMatchObject({ depth: 2, messages: 2 });
  c = await restart();
  expect(await view(c, 'gone')).toMatchObject({ depth: 2, messages: 2 });
  expect((await consume(c.subscribe<{ n: number }>('gone.>', { durable: 'gone' }), 2)).map(([n]) => n)).toEqual([N, N + 1]);
});

test('ttls end in the backlog without reading it, before and after a restart', async () => {
  await t.start({ dataDir });
  let c = await t.client();
  await c.createQueue('brief', 'brief.>');
  // Interleaved: every third message has no ttl and stays.
  const publishMixed = async (from: number, to: number, ttl: number) => {
    const all = [];
    for (let n = from; n < to; n++) all.push(c.publish('brief.a', { n }, { mode: 'persistent', ack: 'submission', ...(n % 3 === 0 ? {} : { ttl }) }));
    await Promise.all(all);
  };
  const M = 2 * QUEUE_WINDOW;
  await publishMixed(0, M, 300);
  const stays = Math.ceil(M / 3);
  await eventually(async () => (await view(c, 'brief')).depth === stays);
  expect(await view(c, 'brief')).toMatchObject({ messages: stays });

  // Stored with a ttl that ends after a restart: the index on disk arms the sweep at start.
  await publishMixed(M, 2 * M, 400);
  await t.cleanup();
  await t.start({ dataDir });
  c = await t.client();
  await eventually(async () => (await view(c, 'brief')).depth === Math.ceil((2 * M) / 3));
  const seen = await consume(c.subscribe<{ n: number }>('brief.>', { durable: 'brief' }), Math.ceil((2 * M) / 3));
  expect(seen.map(([n]) => n)).toEqual(Array.from({ length: Math.ceil((2 * M) / 3) }, (_, i) => 3 * i));
});

test('the dedupe window is in the store: a repeat is recognised after a restart, and once the window ends it is new', async () => {
  await t.start({ dataDir, dedupeWindowMs: 1_500 });
  let c = await t.client();
  await c.createQueue('once', 'once.>');
  const send = (mid: string) => c.publish('once.a', { n: 0 }, { mode: 'persistent', ack: 'submission', mid });
  expect(await send('order-1')).not.toMatchObject({ duplicate: true });
  expect(await send('order-1')).toMatchObject({ duplicate: true });
  c = await restart();
  expect(await send('order-1')).toMatchObject({ duplicate: true });
  expect(await view(c, 'once')).toMatchObject({ messages: 1 });
  await eventually(async () => !(await send('order-1')).duplicate);
  expect(await view(c, 'once')).toMatchObject({ messages: 2 });
});
