/**
 * Replayable streams in cluster mode (issue 17, protocol.md §9.11): each stream is a Redis Stream
 * (server/cluster/streams/), so two brokers on one real redis-server serve the same streams with
 * the same API and semantics as one broker on its own.
 */
import { httpGet } from '../cli/http-get.js';
import type { Client } from '../client-sdk/index.js';
import { testCluster } from './helpers/cluster.js';
import { RedisServer } from './helpers/redis-server.js';
import { take, until } from './helpers/setup.js';
import { readerReaches } from './helpers/stream-readers.js';

let redis: RedisServer;
const t = testCluster();

beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis.destroy();
});
afterEach(() => t.cleanup());

type N = { n: number };
const persist = { mode: 'persistent', ack: 'submission' } as const;
let streams = 0;
/** A stream name of this test's own: the tests share one Redis. */
const fresh = (base: string) => `${base}${++streams}`;

async function publishAll(c: Client, topic: string, from: number, to: number): Promise<void> {
  for (let n = from; n < to; n++) await c.publish(topic, { n }, persist);
}

test('created on one node, appended on the other before the receipt, replayed on both from first, a seq, a time, the last or new', async () => {
  await t.start(redis.url, 2);
  const [a, b] = [await t.client(0), await t.client(1)];
  const name = fresh('orders');
  await a.createStream(name, `${name}.>`);
  const before = Date.now();
  await publishAll(b, `${name}.eu`, 0, 3);
  await b.publish(`${name}.eu`, { n: 99 }, { ack: 'submission' }); // transient: not kept
  await new Promise((r) => setTimeout(r, 5)); // a later append time for the { time } start
  const middle = Date.now();
  await publishAll(a, `${name}.us`, 3, 5);

  for (const c of [a, b]) {
    const first = await take(c.subscribe<N>(`${name}.>`, { stream: name }), 5);
    expect(first.map((m) => [m.seq, m.data.n])).toEqual([[1, 0], [2, 1], [3, 2], [4, 3], [5, 4]]);
    expect(first.every((m) => m.time! >= before && m.time! <= Date.now())).toBe(true);
    expect((await take(c.subscribe<N>(`${name}.>`, { stream: name, start: { seq: 4 } }), 2)).map((m) => m.seq)).toEqual([4, 5]);
    expect((await take(c.subscribe<N>(`${name}.>`, { stream: name, start: { time: middle } }), 2)).map((m) => m.data.n)).toEqual([3, 4]);
    expect((await take(c.subscribe<N>(`${name}.eu`, { stream: name }), 3)).map((m) => m.seq)).toEqual([1, 2, 3]);
  }
  const last = a.subscribe<N>(`${name}.>`, { stream: name, start: 'last' });
  const fromNew = b.subscribe<N>(`${name}.>`, { stream: name, start: 'new' });
  await Promise.all([last.ready, fromNew.ready]);
  await publishAll(b, `${name}.eu`, 5, 6);
  expect((await take(last, 2)).map((m) => m.seq)).toEqual([5, 6]);
  expect((await take(fromNew, 1)).map((m) => [m.seq, m.data.n])).toEqual([[6, 5]]);
  for (const c of [a, b]) expect(await c.streamInfo(name)).toMatchObject({ name, pattern: `${name}.>`, firstSeq: 1, lastSeq: 6, messages: 6 });
  expect((await a.admin({ op: 'streams' }) as { name: string }[]).some((s) => s.name === name)).toBe(true);
  const api = await httpGet(t.brokers[1]!.url.replace('ws:', 'http:') + `/api/streams/${name}`, { timeoutMs: 5_000 });
  expect([api.status, JSON.parse(api.text).lastSeq]).toEqual([200, 6]);
  // Metrics come from Redis on every node.
  for (const broker of t.brokers) {
    const text = await (await fetch(`${broker.url.replace('ws', 'http')}/metrics`)).text();
    expect(text).toMatch(new RegExp(`^linden_stream_messages\\{stream="${name}"\\} 6$`, 'm'));
  }
});

test('readers on both nodes replay and follow live appends from both nodes with no gap and no duplicate', async () => {
  await t.start(redis.url, 2);
  const [pa, pb, ra, rb] = [await t.client(0), await t.client(1), await t.client(0), await t.client(1)];
  const name = fresh('ticks');
  await pa.createStream(name, 'tick');
  const perNode = 600;
  let stored = 0;
  const publishing = [pa, pb].map(async (c, node) => {
    const sent: Promise<unknown>[] = [];
    for (let n = 0; n < perNode; n++) {
      sent.push(c.publish('tick', { n: node * perNode + n }, persist).then(() => stored++));
      if (n % 50 === 49) await Promise.all(sent.splice(0));
    }
    await Promise.all(sent);
  });
  // The readers come while a third is stored and the rest is still coming.
  await until(() => stored >= (2 * perNode) / 3, 15_000);
  const subs = [ra, rb].map((c) => c.subscribe<N>('tick', { stream: name }));
  const got = await Promise.all(subs.map((s) => take(s, 2 * perNode)));
  await Promise.all(publishing);
  for (const messages of got) {
    expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: 2 * perNode }, (_, i) => i + 1));
    expect(new Set(messages.map((m) => m.data.n)).size).toBe(2 * perNode);
  }
  // Both saw the one order of the stream.
  expect(got[0]!.map((m) => m.data.n)).toEqual(got[1]!.map((m) => m.data.n));
});

test('a named reader keeps its position in Redis when it comes back on the other node', async () => {
  await t.start(redis.url, 2);
  const [a, b] = [await t.client(0), await t.client(1)];
  const name = fresh('audit');
  await a.createStream(name, 'audit.>');
  await publishAll(a, 'audit.x', 0, 5);
  const first = await t.client(0);
  const got = await take(first.subscribe<N>('audit.>', { stream: name, reader: 'r1' }), 5);
  for (const m of got.slice(0, 3)) m.ack();
  let info = await b.streamInfo(name);
  await until(() => info.readers[0]?.position === 4, 5_000, async () => {
    info = await b.streamInfo(name);
  });
  expect(info.readers).toEqual([{ name: 'r1', position: 4, lag: 2, connected: false, unacked: 0 }]); // attached on the other node
  await first.close();
  await publishAll(b, 'audit.x', 5, 6);
  const second = await t.client(1);
  const again = second.subscribe<N>('audit.>', { stream: name, reader: 'r1', start: 'new' }); // start is for new readers only
  const redelivered = await take(again, 3);
  expect(redelivered.map((m) => [m.seq, m.data.n])).toEqual([[4, 3], [5, 4], [6, 5]]);
  for (const m of redelivered) m.ack();
  await publishAll(a, 'audit.x', 6, 7);
  const [live] = await take(again, 1);
  expect(live!.seq).toBe(7);
  live!.ack();
  await until(() => info.readers[0]!.position === 8, 5_000, async () => {
    info = await a.streamInfo(name);
  });
  expect((await b.streamInfo(name)).readers).toEqual([{ name: 'r1', position: 8, lag: 0, connected: true, unacked: 0 }]);

  // A second subscription of the reader on the other node takes it over.
  const third = await t.client(0);
  const newer = third.subscribe<N>('audit.>', { stream: name, reader: 'r1' });
  await newer.ready;
  await expect(take(again, 1)).rejects.toMatchObject({ code: 'STREAM_READER_MOVED' });
  await publishAll(b, 'audit.x', 7, 8);
  expect((await take(newer, 1)).map((m) => m.seq)).toEqual([8]);
});

test('a named reader\'s delivery not acked within ackWait comes again, and working() extends it, on a cluster node', async () => {
  await t.start(redis.url, 2);
  const [a, b] = [await t.client(0), await t.client(1)];
  const name = fresh('slow');
  await a.createStream(name, 'slow.>');
  // 1 s: publishing seq 2, taking it and sending working() must fit inside seq 1's second ackWait, on a loaded machine too.
  const sub = b.subscribe<N>('slow.>', { stream: name, reader: 'r', ackWait: 1_000 });
  await sub.ready;
  await a.publish('slow.a', { n: 1 }, persist);
  const [first] = await take(sub, 1);
  const [timedOut] = await take(sub, 1);
  expect([first!.seq, timedOut!.seq]).toEqual([1, 1]);
  expect([first!.deliveryCount, timedOut!.redelivered, timedOut!.deliveryCount]).toEqual([1, true, 2]);
  await a.publish('slow.b', { n: 2 }, persist);
  const [other] = await take(sub, 1);
  expect(other!.seq).toBe(2);
  timedOut!.working(); // seq 1's deadline moves past seq 2's
  const again = await take(sub, 2);
  expect(again.map((m) => [m.seq, m.deliveryCount])).toEqual([[2, 2], [1, 3]]);
  for (const m of again) m.ack();
  expect(await readerReaches(a, name, 'r', 3)).toMatchObject({ unacked: 0 });
});

test('a nacked message that retention dropped meanwhile counts as acked on a cluster node: the position moves past it', async () => {
  await t.start(redis.url, 2);
  const [a, b] = [await t.client(0), await t.client(1)];
  const name = fresh('short');
  await a.createStream(name, 'short.>', { maxMessages: 1 });
  await a.publish('short.a', { n: 1 }, persist);
  const sub = b.subscribe<N>('short.>', { stream: name, reader: 'r' });
  const [m1] = await take(sub, 1);
  await a.publish('short.a', { n: 2 }, persist); // seq 1 is dropped: maxMessages 1
  const [m2] = await take(sub, 1);
  expect([m1!.seq, m2!.seq]).toEqual([1, 2]);
  m2!.ack(); // the position stays at 1, which is still unacked
  m1!.nack(); // nothing left to deliver again
  expect(await readerReaches(a, name, 'r', 3)).toMatchObject({ unacked: 0 });
});

test('retention: maxMessages, maxBytes, discard "new" and maxAge hold whichever node appends', async () => {
  await t.start(redis.url, 2);
  const [a, b] = [await t.client(0), await t.client(1)];
  const last3 = fresh('last3');
  await a.createStream(last3, 'ra', { maxMessages: 3 });
  await publishAll(b, 'ra', 0, 5);
  expect(await a.streamInfo(last3)).toMatchObject({ firstSeq: 3, lastSeq: 5, messages: 3 });
  expect((await take(b.subscribe<N>('ra', { stream: last3 }), 3)).map((m) => m.data.n)).toEqual([2, 3, 4]);
  await b.createStream(last3, 'ra', { maxMessages: 2 }); // tighter limits drop the oldest at once
  expect(await a.streamInfo(last3)).toMatchObject({ firstSeq: 4, lastSeq: 5, messages: 2, config: { maxMessages: 2 } });

  const small = fresh('small');
  await a.createStream(small, 'rb', { maxBytes: 40 });
  for (let n = 0; n < 6; n++) await b.publish('rb', new Uint8Array(10), persist);
  const info = await a.streamInfo(small);
  expect(info.bytes).toBeLessThanOrEqual(40);
  expect(info.lastSeq).toBe(6);

  const strict = fresh('strict');
  await a.createStream(strict, 'rc', { maxMessages: 2, discard: 'new' });
  await b.createQueue(fresh('q'), 'rc');
  await b.publish('rc', { n: 0 }, { ...persist, mid: `${strict}-0` });
  await publishAll(b, 'rc', 1, 2);
  await expect(b.publish('rc', { n: 2 }, persist)).rejects.toMatchObject({ code: 'STREAM_FULL' });
  // A repeated mid is answered as a repeat before the full stream is checked (as on one broker).
  expect(await a.publish('rc', { n: 0 }, { ...persist, mid: `${strict}-0` })).toMatchObject({ duplicate: true });
  expect(await a.streamInfo(strict)).toMatchObject({ lastSeq: 2, messages: 2 });

  const aged = fresh('aged');
  await b.createStream(aged, 'rd', { maxAge: 300 });
  await publishAll(a, 'rd', 0, 3);
  let seen = await b.streamInfo(aged);
  expect(seen.lastSeq).toBe(3); // appended; how many are kept yet depends on how fast this machine is
  await until(() => seen.messages === 0, 10_000, async () => {
    seen = await b.streamInfo(aged);
  });
  expect(seen).toMatchObject({ firstSeq: 4, lastSeq: 3 });
});

test('refusals and deletion across nodes: a pattern conflict, an unknown stream, a deleted stream ends readers on both nodes', async () => {
  await t.start(redis.url, 2);
  const [a, b] = [await t.client(0), await t.client(1)];
  const name = fresh('s');
  await a.createStream(name, 'x.>');
  await expect(b.createStream(name, 'y.>')).rejects.toMatchObject({ code: 'STREAM_CONFLICT' });
  await expect(b.streamInfo(fresh('none'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  await expect(b.subscribe('x.>', { stream: fresh('none') }).ready).rejects.toMatchObject({ code: 'NOT_FOUND' });
  await b.publish('x.1', 1, persist);
  const onA = a.subscribe('x.>', { stream: name });
  const onB = b.subscribe('x.>', { stream: name, reader: 'r' });
  expect((await take(onA, 1)).length + (await take(onB, 1)).length).toBe(2);
  await b.deleteStream(name);
  await expect(take(onA, 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  await expect(take(onB, 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  await expect(a.streamInfo(name)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  await expect(a.deleteStream(name)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  // Created again: empty, seq from 1, no readers.
  await b.createStream(name, 'x.>');
  await a.publish('x.2', 2, persist);
  expect(await b.streamInfo(name)).toMatchObject({ firstSeq: 1, lastSeq: 1, messages: 1, readers: [] });
});

test('Redis killed and restarted: a reader on the other node reads on from where it was, with no gap and no duplicate', async () => {
  await t.start(redis.url, 2);
  const [a, b] = [await t.client(0), await t.client(1)];
  const name = fresh('ledger');
  await a.createStream(name, 'ledger');
  await publishAll(a, 'ledger', 0, 3);
  const sub = b.subscribe<N>('ledger', { stream: name, reader: 'keeper' });
  const got: number[] = [];
  const reading = (async () => {
    for await (const m of sub) {
      got.push(m.seq!);
      m.ack();
      if (got.length === 6) return;
    }
  })();
  await until(() => got.length === 3);
  await redis.kill();
  await redis.restart();
  // Back by itself: persistent publishes go through again and reach the reader.
  const deadline = Date.now() + 15_000;
  for (let n = 3; n < 6; ) {
    try {
      await a.publish('ledger', { n }, persist);
      n++;
    } catch (err) {
      if ((err as { code?: string }).code !== 'STORE_UNAVAILABLE' || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  await reading;
  expect(got).toEqual([1, 2, 3, 4, 5, 6]);
  let info = await a.streamInfo(name);
  await until(() => info.readers[0]?.position === 7, 10_000, async () => {
    info = await a.streamInfo(name);
  });
}, 60_000);
