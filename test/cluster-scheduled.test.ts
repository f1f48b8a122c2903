/**
 * Scheduled delivery in cluster mode (issue 17): persistent schedules live in Redis
 * (server/scheduled/cluster-schedules.ts). The node that took one routes it when due; if that
 * node is gone, another sweeps it up, late but not lost and not early; any node lists and
 * cancels them.
 */
import type { Message } from '../client-sdk/index.js';
import { testQueueCluster as testCluster } from './helpers/cluster-queues.js';
import { interestSeen } from './helpers/cluster.js';
import { take, until } from './helpers/setup.js';

const t = testCluster();
beforeEach(() => t.start());
afterEach(() => t.cleanup());

async function arrival<T>(it: AsyncIterator<Message<T>>): Promise<{ m: Message<T>; at: number }> {
  const r = await it.next();
  return { m: r.value as Message<T>, at: Date.now() };
}

test('a persistent schedule taken by one node reaches a durable queue consumed on another when due, once', async () => {
  const [a, b] = [await t.node(), await t.node()];
  const pub = await t.client(a);
  await pub.createQueue('later', 'later.>');
  const receipt = await pub.publish('later.x', 'hello', { mode: 'persistent', delay: 300, ack: 'submission' });
  const consumer = await t.client(b);
  const q = consumer.subscribe<string>('later.>', { durable: 'later' });
  const it = q[Symbol.asyncIterator]();
  const { m, at } = await arrival(it);
  expect(at).toBeGreaterThanOrEqual(receipt.due!);
  expect([m.id, m.data]).toEqual([receipt.id, 'hello']);
  m.ack();
  // Once: a second message published after it is the next one the queue has.
  await pub.publish('later.x', 'next', { mode: 'persistent', ack: 'submission' });
  expect((await arrival(it)).m.data).toBe('next');
});

test('the schedules of a node that is gone are routed by another: late, not early, not lost', async () => {
  const [a, b] = [await t.node(), await t.node()];
  const pub = await t.client(a);
  await pub.createQueue('orphans', 'orphans.>');
  const receipts = [];
  for (let i = 0; i < 5; i++) receipts.push(await pub.publish('orphans.x', i, { mode: 'persistent', delay: 400 + i * 50, ack: 'submission' }));
  await pub.close();
  await a.close(); // its timer goes with it; the schedules stay in Redis
  const listed = await (await fetch(`${b.url.replace('ws', 'http')}/api/scheduled`)).json() as Array<{ id: string; mode: string }>;
  expect(listed.map((r) => r.id)).toEqual(receipts.map((r) => r.id));
  const consumer = await t.client(b);
  const it = consumer.subscribe<number>('orphans.>', { durable: 'orphans' })[Symbol.asyncIterator]();
  const got = [];
  for (let i = 0; i < 5; i++) got.push(await arrival(it));
  expect(got.map(({ m }) => m.data).sort()).toEqual([0, 1, 2, 3, 4]);
  for (const { m, at } of got) {
    expect(at).toBeGreaterThanOrEqual(receipts[m.data]!.due!);
    m.ack();
  }
  expect(await (await fetch(`${b.url.replace('ws', 'http')}/api/scheduled`)).json()).toEqual([]);
});

test('any node cancels a persistent schedule; a transient one stays with its node; delivery acks are refused for persistent ones', async () => {
  const [a, b] = [await t.node(), await t.node()];
  const pa = await t.client(a);
  const pb = await t.client(b);
  const r = await pa.publish('c.x', 1, { mode: 'persistent', delay: 60_000, ack: 'submission' });
  await pb.cancelScheduled(r.id);
  await expect(pb.cancelScheduled(r.id)).rejects.toMatchObject({ code: 'NOT_SCHEDULED' });
  await expect(pa.cancelScheduled(r.id)).rejects.toMatchObject({ code: 'NOT_SCHEDULED' });

  const sub = pa.subscribe('c.>');
  await sub.ready;
  const transient = await pa.publish('c.y', 2, { delay: 100, ack: 'submission' });
  expect((await take(sub, 1))[0]!.id).toBe(transient.id);

  await expect(pa.publish('c.z', 3, { mode: 'persistent', delay: 100, ack: 'delivery' })).rejects.toMatchObject({ code: 'SCHEDULE_UNSUPPORTED' });
  // A publisher's mid is one schedule cluster-wide.
  await pa.publish('c.d', 4, { mode: 'persistent', delay: 60_000, mid: 'once', ack: 'submission' });
  await expect(pb.publish('c.d', 4, { mode: 'persistent', delay: 60_000, mid: 'once', ack: 'submission' })).rejects.toMatchObject({ code: 'DUPLICATE_ID' });
  await pb.cancelScheduled('once');
});

test('a scheduled out to a persistent space enters it when due, taken on another node', async () => {
  const [a, b] = [await t.node(), await t.node()];
  const pa = await t.client(a);
  const pb = await t.client(b);
  const lease = await pa.space('jobs', { persistent: true }).out(['run', 1], { delay: 300 });
  const listed = await (await fetch(`${b.url.replace('ws', 'http')}/api/scheduled`)).json() as Array<{ id: string; kind: string; mode: string }>;
  expect(listed).toEqual([expect.objectContaining({ id: lease!.id, kind: 'out', mode: 'persistent' })]);
  expect(await pb.space('jobs').in(['run', { $any: true }], { timeout: 10_000 })).toEqual(['run', 1]);
  expect(Date.now()).toBeGreaterThanOrEqual(lease!.due!);
});

test('a persistent schedule also reaches live subscribers on other nodes, and the schedule leaves Redis', async () => {
  const [a, b] = [await t.node(), await t.node()];
  const pa = await t.client(a);
  const pb = await t.client(b);
  const live = pb.subscribe<string>('live.>');
  await live.ready;
  await interestSeen(pa, [pb]);
  const r = await pa.publish('live.x', 'now', { mode: 'persistent', delay: 200, ack: 'submission' });
  const [m] = await take(live, 1);
  expect([m!.id, m!.data]).toEqual([r.id, 'now']);
  expect(Date.now()).toBeGreaterThanOrEqual(r.due!);
  await expect(pb.cancelScheduled(r.id)).rejects.toMatchObject({ code: 'NOT_SCHEDULED' });
  let left = -1;
  await until(() => left === 0, 5_000, async () => {
    left = ((await (await fetch(`${b.url.replace('ws', 'http')}/api/scheduled/${encodeURIComponent(r.id)}`)).status) === 404) ? 0 : 1;
  });
});
