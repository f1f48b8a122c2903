/**
 * Admin operations in cluster mode (protocol.md §17.7): `queues`, `queue` (with `peek`), `purge`
 * and `retry` act on the durable queues in Redis, whichever node is asked, in the shapes of a
 * broker on its own; `connections` lists every node's and `kick` reaches any node.
 */
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { Client } from '../client-sdk/index.js';
import { requireBuilt } from './helpers/built.js';
import { ChildTracker } from './helpers/child-process.js';
import { rawClients } from './helpers/raw-client.js';
import { testQueueCluster } from './helpers/cluster-queues.js';
import { take, until } from './helpers/setup.js';

const MAIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const children = new ChildTracker();
const t = testQueueCluster();
const raw = rawClients();
beforeAll(() => requireBuilt(MAIN));
beforeEach(() => t.start());
afterEach(async () => {
  await raw.closeAll();
  await children.killAll();
  await t.cleanup();
});

async function cli(...args: string[]) {
  return children.spawn(MAIN, args, {}, ['LINDEN_URL']).exited;
}

async function publish(c: Client, topic: string, values: number[]): Promise<void> {
  for (const n of values) await c.publish(topic, { n }, { mode: 'persistent', ack: 'submission' });
}

/** Asks until the answer passes `check` (another node's consumers reach its summary within a second). */
async function askUntil(c: Client, request: Parameters<Client['admin']>[0], check: (r: any) => boolean): Promise<any> {
  let last: any;
  await until(() => last !== undefined && check(last), 5_000, async () => {
    last = await c.admin(request);
  });
  return last;
}

test('queues and queue (with peek) show the whole cluster from any node: depth, in flight, consumers elsewhere', async () => {
  const [a, b] = [await t.node(), await t.node()];
  const [onA, onB] = [await t.client(a), await t.client(b)];
  await onA.createQueue('jobs', 'jobs.>', { maxInFlight: 2 });
  await publish(onB, 'jobs.x', [0, 1, 2, 3, 4]);
  const held = await take(onB.subscribe<{ n: number }>('jobs.>', { durable: 'jobs' }), 2);
  expect(held.map((m) => m.data.n)).toEqual([0, 1]);

  const queues = await askUntil(onA, { op: 'queues' }, (r) => r[0]?.consumers === 1 && r[0]?.inFlight === 2);
  expect(queues).toEqual([expect.objectContaining({ name: 'jobs', pattern: 'jobs.>', messages: 5, inFlight: 2, depth: 3, delayed: 0, consumers: 1, deadLetters: 0, stalled: null })]);
  expect(queues[0].oldestAgeMs).toBeGreaterThanOrEqual(0);

  const detail = (await onA.admin({ op: 'queue', name: 'jobs', peek: 2 })) as any;
  expect(detail).toMatchObject({ name: 'jobs', config: { maxInFlight: 2 }, consumerList: [] });
  expect(detail.head.map((h: any) => [h.state, h.deliveries])).toEqual([['in flight', 1], ['in flight', 1], ['ready', 0], ['ready', 0], ['ready', 0]]);
  expect(detail.peek.map((p: any) => [p.topic, p.data, p.deliveries])).toEqual([['jobs.x', { n: 2 }, 0], ['jobs.x', { n: 3 }, 0]]);
  // On the consumer's node, its consumers are listed with their connection.
  const here = (await onB.admin({ op: 'queue', name: 'jobs' })) as any;
  expect(here.consumerList).toEqual([expect.objectContaining({ connection: expect.stringMatching(/-/), inFlight: 2 })]);
  await expect(onA.admin({ op: 'queue', name: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
});

test('purge drops the ready messages across the cluster and keeps those in flight on any node', async () => {
  const [a, b] = [await t.node(), await t.node()];
  const [onA, onB] = [await t.client(a), await t.client(b)];
  await onA.createQueue('jobs', 'jobs.>', { maxInFlight: 2 });
  await publish(onA, 'jobs.x', [0, 1, 2, 3, 4]);
  const sub = onB.subscribe<{ n: number }>('jobs.>', { durable: 'jobs' });
  const held = await take(sub, 2);

  // The CLI, unchanged, against the node that has no consumer: the HTTP view and the admin op.
  expect((await cli('queues', '--url', a.url)).stdout).toMatch(/^jobs\s+jobs\.>\s+3\s+2\s/m);
  expect(await cli('purge', 'jobs', '--url', a.url)).toMatchObject({ code: 0 });
  expect(await onA.admin({ op: 'queues' })).toEqual([expect.objectContaining({ name: 'jobs', messages: 2, inFlight: 2, depth: 0 })]);
  const http = await (await fetch(`${a.url.replace(/^ws/, 'http')}/api/queues/jobs?peek=5`)).json();
  expect(http).toMatchObject({ name: 'jobs', messages: 2, peek: [] });
  expect((await fetch(`${a.url.replace(/^ws/, 'http')}/api/queues/nope`)).status).toBe(404);
  expect(await onA.admin({ op: 'purge', name: 'jobs' })).toEqual({ purged: 0 });
  for (const m of held) m.ack();
  await askUntil(onB, { op: 'queues' }, (r) => r[0]?.messages === 0);
  // The queue stays: what is published next is delivered.
  await publish(onA, 'jobs.x', [5]);
  const [next] = await take(sub, 1);
  expect(next!.data.n).toBe(5);
  await expect(onB.admin({ op: 'purge', name: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
});

test('retry moves the dead letters back into their queue, as far as it has room', async () => {
  const [a, b] = [await t.node(), await t.node()];
  const [onA, onB] = [await t.client(a), await t.client(b)];
  await onA.createQueue('pay', 'pay.>', { maxDeliveries: 1, maxMessages: 2, overflow: 'reject' });
  const sub = onA.subscribe<{ n: number }>('pay.>', { durable: 'pay' });
  await sub.ready;
  await publish(onB, 'pay.eu', [0, 1]);
  for (const m of await take(sub, 2)) m.nack('bad card');
  await askUntil(onB, { op: 'queues' }, (r) => r.find((q: any) => q.name === 'pay')?.deadLetters === 2 && r.find((q: any) => q.name === 'pay')?.messages === 0);
  sub.unsubscribe();
  await onA.flush();
  await publish(onB, 'pay.eu', [2]);

  expect(await onB.admin({ op: 'retry', name: 'pay' })).toEqual({ moved: 1, remaining: 1 });
  const after = (await onB.admin({ op: 'queues' })) as any[];
  expect(after.map((q) => [q.name, q.messages, q.deadLetters])).toEqual([['pay', 2, 1], ['pay.dlq', 1, 0]]);
  const detail = (await onA.admin({ op: 'queue', name: 'pay', peek: 5 })) as any;
  expect(detail.peek.map((p: any) => [p.data.n, p.deliveries])).toEqual([[2, 0], [0, 0]]);
  expect(await onA.admin({ op: 'retry', name: 'pay' })).toEqual({ moved: 0, remaining: 1 });

  await expect(onA.admin({ op: 'retry', name: 'pay.dlq' })).rejects.toMatchObject({ code: 'INVALID_FRAME' });
  await expect(onA.admin({ op: 'retry', name: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
});

test('connections lists every node\'s, each with its node; kick closes a connection on another node over the bus', async () => {
  const [a, b] = [await t.node(), await t.node()];
  const operator = await t.client(a, { name: 'operator' });
  const victim = await raw.open(b.url, 'msgpack');
  const { connectionId } = await victim.hello({ name: 'victim' });
  const nodeOfB = connectionId.slice(connectionId.indexOf('-') + 1);

  const list = (await askUntil(operator, { op: 'connections' }, (r) => r.some((c: any) => c.id === connectionId))) as any[];
  expect(list[0]).toMatchObject({ name: 'operator', node: expect.any(String) });
  expect(list.find((c) => c.id === connectionId)).toMatchObject({ name: 'victim', node: nodeOfB, codec: 'msgpack' });
  const http = await (await fetch(`${a.url.replace(/^ws/, 'http')}/api/connections`)).json();
  expect(http.map((c: any) => [c.name, c.node])).toContainEqual(['victim', nodeOfB]);

  expect(await operator.admin({ op: 'kick', connection: connectionId })).toBeUndefined();
  expect(await victim.closed).toEqual({ code: 4006, reason: 'kicked by an operator' });
  await expect(operator.admin({ op: 'kick', connection: connectionId })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  await expect(operator.admin({ op: 'kick', connection: 'c9-nosuchnode' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  expect(raw.violations()).toEqual([]);
}, 15_000);

test('subscriptions lists every node\'s, one entry per node and pattern with its node; the CLI shows the node', async () => {
  const [a, b] = [await t.node(), await t.node()];
  const [onA, onB] = [await t.client(a), await t.client(b, { name: 'worker' })];
  await onA.createQueue('jobs', 'jobs.>');
  const plain = onA.subscribe('orders.>');
  const grouped = onB.subscribe('orders.*', { group: 'billing' });
  const durable = onB.subscribe('jobs.>', { durable: 'jobs' });
  await Promise.all([plain.ready, grouped.ready, durable.ready]);
  const nodeOf = (id: string) => id.slice(id.indexOf('-') + 1);

  const list = (await askUntil(onA, { op: 'subscriptions' }, (r) => r.length === 3)) as any[];
  const nodeA = list[0].node;
  expect(list.map((s) => [s.node === nodeA ? 'a' : 'b', s.pattern, s.group, s.durable, s.subscribers])).toEqual([
    ['a', 'orders.>', null, null, 1],
    ['b', 'jobs.>', null, 'jobs', 1],
    ['b', 'orders.*', 'billing', null, 1],
  ]);
  for (const s of list) expect(s.connections.map(nodeOf)).toEqual([s.node]);
  expect(list[1].connections).toEqual([onB.connectionId]);
  const http = await (await fetch(`${b.url.replace(/^ws/, 'http')}/api/subscriptions`)).json();
  expect(http.map((s: any) => s.pattern).sort()).toEqual(['jobs.>', 'orders.*', 'orders.>']);
  expect((await cli('subscriptions', '--url', a.url)).stdout).toMatch(new RegExp(`^NODE\\s+PATTERN[^\\n]*\\n${nodeA}\\s+orders\\.>\\s+-\\s+-\\s+1\\s`, 'm'));

  // The asked node's own only: as a broker on its own answers.
  expect(await onA.admin({ op: 'subscriptions', scope: 'node' })).toEqual([{ pattern: 'orders.>', group: null, durable: null, subscribers: 1, connections: [onA.connectionId] }]);
  expect((await onB.admin({ op: 'connections', scope: 'node' }) as any[]).map((c) => [c.id, c.node])).toEqual([[onB.connectionId, undefined]]);
  const own = await (await fetch(`${b.url.replace(/^ws/, 'http')}/api/subscriptions?scope=node`)).json();
  expect(own.map((s: any) => s.pattern)).toEqual(['jobs.>', 'orders.*']);
  expect((await fetch(`${b.url.replace(/^ws/, 'http')}/api/connections?scope=everywhere`)).status).toBe(400);
  expect((await cli('subscriptions', '--node', '--url', a.url)).stdout).toMatch(/^PATTERN\s+GROUP\s+DURABLE\s+SUBSCRIBERS\s+CONNECTIONS\norders\.>\s+-\s+-\s+1\s+\S+\n$/);
  await expect(onA.admin({ op: 'queues', scope: 'node' } as any)).rejects.toMatchObject({ code: 'INVALID_FRAME' });

  // Gone from the other nodes' view within a second or so of the unsubscribe.
  grouped.unsubscribe();
  await askUntil(onA, { op: 'subscriptions' }, (r) => r.length === 2);
}, 15_000);

test('another node\'s subscriptions name at most 10 of their connections and count them all', async () => {
  const [a, b] = [await t.node(), await t.node()];
  const onA = await t.client(a);
  const holders = await Promise.all(Array.from({ length: 11 }, () => t.client(b)));
  await Promise.all(holders.map((c) => c.subscribe('crowd.>').ready));
  const [crowd] = (await askUntil(onA, { op: 'subscriptions' }, (r) => r[0]?.subscribers === 11)) as any[];
  expect(crowd).toMatchObject({ pattern: 'crowd.>', subscribers: 11 });
  expect(crowd.connections).toHaveLength(10);
  // Asked there, its own node names them all.
  const [own] = (await holders[0]!.admin({ op: 'subscriptions' })) as any[];
  expect(own.connections).toHaveLength(11);
}, 15_000);

test('spaces and space (with peek) show the tuple spaces of the whole cluster from any node; empty ones leave the list', async () => {
  const [a, b] = [await t.node(), await t.node()];
  const [onA, onB] = [await t.client(a), await t.client(b)];
  await onA.space('jobs').out(['resize', 'cat.png']);
  await onB.space('jobs').out(['resize', 'dog.png', 2], { ttl: 60_000 });
  await onA.space('jobs').out(['crop', 'owl.png']);
  const reserved = (await onB.space('jobs').in(['crop', { $any: true }], { reserve: 60_000 }))!;
  const waiting = new AbortController();
  const taking = onB.space('later').in(['x'], { signal: waiting.signal });
  const watch = onA.space('watched').notify(['x']);
  await watch.ready;

  const list = (await askUntil(onA, { op: 'spaces' }, (r) => r.length === 3)) as any[];
  expect(list.map((s) => [s.name, s.tuples, s.reserved, s.waiting, s.notify, s.outs, s.persistent])).toEqual([
    ['jobs', 2, 1, 0, 0, 3, true],
    ['later', 0, 0, 1, 0, 0, true],
    ['watched', 0, 0, 0, 1, 0, true],
  ]);
  expect(list[0].bytes).toBeGreaterThan(0);

  const detail = (await onB.admin({ op: 'space', name: 'jobs', peek: 5 })) as any;
  expect(detail).toMatchObject({ name: 'jobs', tuples: 2, reserved: 1 });
  expect(detail.peek.map((p: any) => [p.tuple, p.expiresAt === null])).toEqual([[['resize', 'cat.png'], true], [['resize', 'dog.png', 2], false]]);
  const http = await (await fetch(`${a.url.replace(/^ws/, 'http')}/api/spaces/jobs?peek=1`)).json();
  expect(http.peek.map((p: any) => p.tuple)).toEqual([['resize', 'cat.png']]);
  expect((await fetch(`${a.url.replace(/^ws/, 'http')}/api/spaces/nope`)).status).toBe(404);
  await expect(onA.admin({ op: 'space', name: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  expect((await cli('spaces', '--url', b.url)).stdout).toMatch(/^jobs\s+persistent\s+2\s/m);
  expect((await cli('space', 'jobs', '--peek', '1', '--url', b.url)).stdout).toMatch(/tuples:\s+2 \(\+1 reserved[^]*\["resize","cat.png"\]/);

  // Emptied on every node: gone from the list, as on a broker of its own.
  await reserved.ack();
  expect(await onA.space('jobs').inp(['resize', { $any: true }])).toEqual(['resize', 'cat.png']);
  expect(await onB.space('jobs').inp(['resize', { $any: true }, 2])).toEqual(['resize', 'dog.png', 2]);
  waiting.abort();
  expect(await taking).toBeNull();
  const left = (await askUntil(onB, { op: 'spaces' }, (r) => r.length === 1)) as any[];
  expect(left.map((s) => s.name)).toEqual(['watched']);
  await expect(onB.admin({ op: 'space', name: 'jobs' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
}, 20_000);

test('the registry of spaces forgets a space found empty that no node noted for a minute, and keeps a stale one that holds tuples', async () => {
  const a = await t.node();
  const c = await t.client(a);
  await c.space('kept').out(['x']);
  const redis = new Redis(t.redis.url);
  try {
    // As if noted two minutes ago (Redis's clock, ms), then never again.
    const [secs] = await redis.time();
    const old = Number(secs) * 1000 - 120_000;
    await redis.zadd('{linden}:spaces', old, 'ghost', old, 'kept');
    expect((await c.admin({ op: 'spaces' }) as any[]).map((s) => s.name)).toEqual(['kept']);
    let ghost: string | null = '';
    await until(() => ghost === null, 5_000, async () => {
      ghost = await redis.zscore('{linden}:spaces', 'ghost');
    });
    expect(await redis.zscore('{linden}:spaces', 'kept')).toBe(String(old));
  } finally {
    redis.disconnect();
  }
});

test('metrics: the queue and space gauges report the durable queues and spaces in Redis and a gauge counts each node\'s connections; node-local series stay', async () => {
  const [a, b] = [await t.node(), await t.node()];
  const [onA, onB] = [await t.client(a), await t.client(b)];
  await t.client(b);
  await onA.createQueue('jobs', 'jobs.>', { maxInFlight: 1 });
  await publish(onA, 'jobs.x', [0, 1, 2]);
  await take(onB.subscribe('jobs.>', { durable: 'jobs' }), 1);
  await onB.space('tasks').out(['resize', 1]);
  await onB.space('tasks').out(['resize', 2]);
  const nodeOf = (id: string) => id.slice(id.indexOf('-') + 1);
  const series = async () => {
    const text = await (await fetch(`${a.url.replace(/^ws/, 'http')}/metrics`)).text();
    return new Map(text.split('\n').filter((l) => l.startsWith('linden_')).map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]));
  };
  let seen = new Map<string, number>();
  // Read at most every 2 s from Redis, and the other node's consumers from its summary (written every second).
  await until(() => seen.get('linden_queue_consumers{queue="jobs"}') === 1 && seen.get('linden_queue_in_flight{queue="jobs"}') === 1
    && seen.get(`linden_cluster_node_connections{node="${nodeOf(onB.connectionId)}"}`) === 2, 10_000, async () => {
    seen = await series();
  });
  expect(seen.get('linden_queue_depth{queue="jobs"}')).toBe(2);
  expect(seen.get('linden_space_tuples{space="tasks"}')).toBe(2);
  expect(seen.get('linden_space_waiting{space="tasks"}')).toBe(0);
  expect(seen.get('linden_space_bytes{space="tasks"}')).toBeGreaterThan(0);
  expect(seen.get(`linden_cluster_node_connections{node="${nodeOf(onA.connectionId)}"}`)).toBe(1);
  expect(seen.get('linden_connections')).toBe(1); // this node's own, as ever
  expect([...seen.keys()].some((k) => k.startsWith('linden_queue_bytes'))).toBe(false); // Redis does not know it
}, 20_000);

test('while Redis is away the cluster views and ops answer STORE_UNAVAILABLE (HTTP 503), and work again once it is back', async () => {
  const a = await t.node();
  const c = await t.client(a);
  await c.createQueue('jobs', 'jobs.>');
  await t.redis.kill();
  await expect(c.admin({ op: 'queues' })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  await expect(c.admin({ op: 'purge', name: 'jobs' })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  await expect(c.admin({ op: 'connections' })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  await expect(c.admin({ op: 'subscriptions' })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  await expect(c.admin({ op: 'spaces' })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  expect((await fetch(`${a.url.replace(/^ws/, 'http')}/api/spaces`)).status).toBe(503);
  expect((await fetch(`${a.url.replace(/^ws/, 'http')}/api/queues`)).status).toBe(503);
  await t.redis.restart();
  // Back by itself: asked again until the command connection has reconnected.
  let back: unknown;
  await until(() => back !== undefined, 10_000, async () => {
    back = await c.admin({ op: 'queues' }).catch(() => undefined);
  });
  expect(back).toEqual([expect.objectContaining({ name: 'jobs', messages: 0 })]);
}, 20_000);

