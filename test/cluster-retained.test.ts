/**
 * Retained messages in cluster mode (issue 17): kept in Redis, heard by every node in one
 * sequence. A subscriber on any node gets the retained messages first, then live ones, with no
 * gap and no repeat whichever node publishes; limits are the cluster's; queue groups get a
 * retained publish once; a node started later finds them.
 */
import { mkdir, rm } from 'node:fs/promises';
import type { Message, Subscription } from '../client-sdk/index.js';
import { startBroker } from '../server/index.js';
import { interestSeen, testCluster } from './helpers/cluster.js';
import { RedisServer } from './helpers/redis-server.js';
import { take, until } from './helpers/setup.js';

let redis: RedisServer;
const t = testCluster();

beforeEach(async () => {
  redis = await RedisServer.start();
});
afterEach(async () => {
  await t.cleanup();
  await redis.destroy();
});

async function upTo<T>(sub: Subscription<T>, marker: unknown): Promise<Message<T>[]> {
  const out: Message<T>[] = [];
  const it = sub[Symbol.asyncIterator]();
  for (;;) {
    const r = await it.next();
    if (r.done) return out;
    out.push(r.value);
    if (r.value.data === marker) return out;
  }
}

const shown = (ms: Message[]) => ms.map((m) => [m.topic, m.data, m.retained]);

test('a retained publish on one node reaches a later subscriber on another first, flagged, then live ones in order', async () => {
  await t.start(redis.url, 2);
  const [a, b, bJson] = await Promise.all([t.client(0), t.client(1), t.client(1, { codec: 'json' })]);
  await a.publish('st.one', 1, { retain: true, ack: 'submission', headers: { h: 'v' } });
  await a.publish('st.two', 2, { retain: true, ack: 'submission' });

  const sub = b.subscribe('st.*', { retained: true });
  await sub.ready;
  await interestSeen(a, [b]);
  // A retained publish then a plain one from one client keep their order.
  void a.publish('st.one', 'r', { retain: true });
  void a.publish('st.one', 'end');
  const got = await upTo(sub, 'end');
  expect(shown(got)).toEqual([['st.one', 1, true], ['st.two', 2, true], ['st.one', 'r', false], ['st.one', 'end', false]]);
  expect(got[0]!.headers).toEqual({ h: 'v' });

  const json = bJson.subscribe('st.>', { retained: true });
  await json.ready;
  await b.publish('st.x', 'end2');
  expect(shown(await upTo(json, 'end2'))).toEqual([['st.one', 'r', true], ['st.two', 2, true], ['st.x', 'end2', false]]);
});

test('hand-off under a continuous stream from another node: the retained value, then every later one once, in order', async () => {
  await t.start(redis.url, 2);
  const [a, b] = await Promise.all([t.client(0), t.client(1)]);
  const local = await t.client(0);
  const N = 1_500;
  let published = 0;
  const stream = (async () => {
    for (let i = 0; i < N; i++) {
      void a.publish('hand.off', i, { retain: true });
      published = i + 1;
      if (i % 20 === 19) await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  await until(() => published >= N / 3);
  // One subscriber on the publisher's node, one on the other.
  const subs = [b.subscribe<number>('hand.*', { retained: true }), local.subscribe<number>('hand.>', { retained: true })];
  const runs = await Promise.all(subs.map((s) => upTo(s, N - 1)));
  await stream;
  for (const got of runs) {
    expect(got[0]!.retained).toBe(true);
    expect(got.slice(1).every((m) => !m.retained)).toBe(true);
    const first = got[0]!.data;
    expect(first).toBeLessThan(N - 1);
    expect(got.map((m) => m.data)).toEqual(Array.from({ length: N - first }, (_, i) => first + i));
  }
}, 60_000); // one Redis round trip per retained publish of a connection: some seconds on a busy machine

test('clear, list and limits are the cluster\'s, whichever node', async () => {
  await t.start(redis.url, 2, { maxRetainedTopics: 2, maxRetainedBytes: 200 });
  const [a, b] = await Promise.all([t.client(0), t.client(1)]);
  await a.publish('lim.a', 1, { retain: true, ack: 'submission' });
  await b.publish('lim.b', 2, { retain: true, ack: 'submission' });
  await expect(b.publish('lim.c', 3, { retain: true, ack: 'submission' })).rejects.toMatchObject({ code: 'RETAINED_FULL', details: { limit: 'maxRetainedTopics' } });
  await expect(a.publish('lim.a', 'x'.repeat(300), { retain: true, ack: 'submission' })).rejects.toMatchObject({ code: 'RETAINED_FULL', details: { limit: 'maxRetainedBytes' } });
  const list = async (i: number) => (await fetch(`${t.brokers[i]!.url.replace(/^ws/, 'http')}/api/retained?pattern=lim.*`)).json() as Promise<{ topics: number; retained: Array<{ topic: string; mode: string }> }>;
  expect((await list(0)).retained.map((r) => r.topic)).toEqual(['lim.a', 'lim.b']);
  await b.publish('lim.a', null, { retain: true, ack: 'submission' }); // clears a's
  expect(await list(0)).toMatchObject({ topics: 1, retained: [{ topic: 'lim.b', mode: 'transient' }] });
  await a.publish('lim.c', 3, { retain: true, ack: 'submission' }); // room again
  const sub = a.subscribe('lim.*', { retained: true });
  await sub.ready;
  await a.publish('lim.end', 'end');
  expect(shown(await upTo(sub, 'end'))).toEqual([['lim.b', 2, true], ['lim.c', 3, true], ['lim.end', 'end', false]]);
});

test('a queue group gets each retained publish once across nodes; persistent and delivery/processing retains are refused', async () => {
  await t.start(redis.url, 2);
  const [a, b, c] = await Promise.all([t.client(0), t.client(0), t.client(1)]);
  const members = [b.subscribe<number>('grp.>', { group: 'g' }), c.subscribe<number>('grp.>', { group: 'g' })];
  await Promise.all(members.map((m) => m.ready));
  await interestSeen(a, [c]);
  const seen: number[] = [];
  for (const m of members) void (async () => { for await (const msg of m) seen.push(msg.data); })();
  for (let i = 0; i < 20; i++) await a.publish('grp.t', i, { retain: true, ack: 'submission' });
  await until(() => seen.length >= 20);
  await a.publish('grp.t', 'probe', { ack: 'submission' }); // one more turn for any late repeat
  expect(seen.filter((x) => typeof x === 'number').sort((x, y) => x - y)).toEqual([...Array(20).keys()]);

  await expect(a.publish('grp.p', 1, { retain: true, mode: 'persistent', ack: 'submission' })).rejects.toMatchObject({ code: 'RETAIN_UNSUPPORTED' });
  await expect(a.publish('grp.p', 1, { retain: true, ack: 'delivery' })).rejects.toMatchObject({ code: 'RETAIN_UNSUPPORTED' });
  await expect(a.subscribe('grp.>', { retained: true, group: 'g2' }).ready).rejects.toMatchObject({ code: 'INVALID_FRAME' });
});

test('retained messages stay in Redis: a node started after every other stopped finds them', async () => {
  await t.start(redis.url, 1);
  const a = await t.client(0);
  await a.publish('keep.me', { v: 1 }, { retain: true, ack: 'submission' });
  await t.cleanup();
  const later = await startBroker({ port: 0, logLevel: 'silent', redis: redis.url });
  t.brokers.push(later);
  const c = await t.client(0);
  const sub = c.subscribe('keep.>', { retained: true });
  await sub.ready;
  await c.publish('keep.end', 'end');
  expect(shown(await upTo(sub, 'end'))).toEqual([['keep.me', { v: 1 }, true], ['keep.end', 'end', false]]);
});

test('with Redis away a retained publish is refused with STORE_UNAVAILABLE; a Redis back empty starts the sequence again and is heard', async () => {
  await t.start(redis.url, 2);
  const [a, b] = await Promise.all([t.client(0), t.client(1)]);
  const sub = b.subscribe<number>('away.>', { retained: true });
  await sub.ready;
  for (let i = 1; i <= 5; i++) await a.publish('away.t', i, { retain: true, ack: 'submission' });
  expect((await take(sub, 5)).map((m) => m.data)).toEqual([1, 2, 3, 4, 5]);

  await redis.kill();
  await expect(a.publish('away.t', 6, { retain: true, ack: 'submission' })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  // Back with nothing: the sequence starts at 1 again, below what the nodes heard before.
  await rm(redis.dir, { recursive: true, force: true });
  await mkdir(redis.dir, { recursive: true });
  await redis.restart();
  let stored = false;
  await until(() => stored, 15_000, async () => {
    stored = await a.publish('away.t', 7, { retain: true, ack: 'submission' }).then(() => true, () => false);
  });
  const [live] = await take(sub, 1);
  expect([live!.data, live!.retained]).toEqual([7, false]);
  const later = b.subscribe<number>('away.>', { retained: true });
  expect((await take(later, 1)).map((m) => [m.data, m.retained])).toEqual([[7, true]]);
});
