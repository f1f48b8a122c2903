/**
 * Admin operations over the WebSocket protocol (`admin` -> `report`/`ok`/`err`, protocol.md §17):
 * purge, dead-letter retry, kick, peek, the views, and their typed errors. The changes are
 * checked in the views, in /metrics and, on an LMDB broker, after a restart.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '../client-sdk/index.js';
import type { BrokerOptions } from '../server/index.js';
import { rawClients, type RawClient, type Received } from './helpers/raw-client.js';
import { take, testBroker } from './helpers/setup.js';

const t = testBroker();
const raw = rawClients();
let dataDir: string | undefined;

afterEach(async () => {
  const violations = raw.violations();
  await raw.closeAll();
  await t.cleanup();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  dataDir = undefined;
  expect(violations).toEqual([]);
});

async function lmdbBroker(): Promise<BrokerOptions> {
  dataDir ??= await mkdtemp(join(tmpdir(), 'linden-admin-ops-'));
  await t.start({ dataDir });
  return { dataDir };
}

/** An operator's connection: raw frames, JSON codec unless told otherwise. */
async function operator(codec: 'json' | 'msgpack' = 'json'): Promise<RawClient> {
  return raw.connect(t.broker.url, codec);
}

async function admin(op: RawClient, fields: Record<string, unknown>): Promise<Received> {
  return op.call({ t: 'admin', id: op.id(), ...fields });
}

async function get(path: string): Promise<any> {
  return (await fetch(t.broker.url.replace(/^ws/, 'http') + path)).json();
}

async function metric(name: string): Promise<number | undefined> {
  const text = await (await fetch(t.broker.url.replace(/^ws/, 'http') + '/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

async function publish(c: Client, topic: string, values: unknown[]): Promise<void> {
  for (const v of values) await c.publish(topic, v, { mode: 'persistent', ack: 'submission' });
}

test('purge drops the ready messages, keeps the queue and what is in flight, and is stored', async () => {
  await lmdbBroker();
  const c = await t.client();
  await c.createQueue('jobs', 'jobs.>', { maxInFlight: 2 });
  await publish(c, 'jobs.x', [0, 1, 2, 3, 4]);
  const sub = c.subscribe<number>('jobs.>', { durable: 'jobs' });
  const held = await take(sub, 2);
  await c.flush();

  const op = await operator();
  expect(await admin(op, { op: 'purge', name: 'jobs' })).toEqual({ t: 'report', re: expect.any(Number), op: 'purge', result: { purged: 3 } });
  expect(await get('/api/queues/jobs')).toMatchObject({ depth: 0, inFlight: 2, messages: 2, purged: 3, published: 5, consumers: 1 });
  expect(await metric('linden_queue_depth{queue="jobs"}')).toBe(0);
  expect(await metric('linden_queue_purged_total{queue="jobs"}')).toBe(3);
  // Nothing left to purge: 0, not an error.
  expect((await admin(op, { op: 'purge', name: 'jobs' })).result).toEqual({ purged: 0 });

  // The consumer's deliveries were left alone: its acks still count.
  held[0]!.ack();
  await c.flush();
  expect(await get('/api/queues/jobs')).toMatchObject({ messages: 1, acked: 1 });

  // After a restart the purged messages stay gone; the unacked one comes back.
  await raw.closeAll();
  await t.cleanup();
  await t.start({ dataDir: dataDir! });
  expect(await get('/api/queues/jobs')).toMatchObject({ depth: 1, inFlight: 0, messages: 1 });
  const again = await t.client();
  const [back] = await take(again.subscribe<number>('jobs.>', { durable: 'jobs' }), 1);
  expect(back!.data).toBe(held[1]!.data);
});

test('retry moves the dead letters back, oldest first, as far as the queue has room, and is stored', async () => {
  await lmdbBroker();
  const c = await t.client();
  await c.createQueue('mail', 'mail.>', { maxDeliveries: 1 });
  await publish(c, 'mail.x', ['a', 'b', 'c']);
  const sub = c.subscribe<string>('mail.>', { durable: 'mail' });
  for (const m of await take(sub, 3)) m.nack();
  sub.unsubscribe();
  await c.flush();
  expect(await get('/api/queues/mail')).toMatchObject({ depth: 0, deadLetters: 3, deadLettered: 3 });

  // Room for two: the third stays where it is.
  await c.createQueue('mail', 'mail.>', { maxMessages: 2 });
  const op = await operator();
  expect(await admin(op, { op: 'retry', name: 'mail' })).toMatchObject({ t: 'report', op: 'retry', result: { moved: 2, remaining: 1 } });
  expect(await get('/api/queues/mail')).toMatchObject({ depth: 2, deadLetters: 1, retried: 2, published: 3 });
  expect(await get('/api/queues/mail.dlq')).toMatchObject({ depth: 1, messages: 1 });
  expect(await metric('linden_queue_retried_total{queue="mail"}')).toBe(2);

  await raw.closeAll();
  await t.cleanup();
  await t.start({ dataDir: dataDir! });
  expect(await get('/api/queues/mail')).toMatchObject({ depth: 2, deadLetters: 1 });
  const again = await t.client();
  const got = await take(again.subscribe<string>('mail.>', { durable: 'mail' }), 2);
  // Back in line in their old order, their delivery count started again.
  expect(got.map((m) => [m.data, m.deliveryCount])).toEqual([['a', 1], ['b', 1]]);
});

test('retry answers 0 without dead letters, and refuses a dead-letter queue or an unknown queue', async () => {
  await t.start();
  const c = await t.client();
  await c.createQueue('calm', 'calm.>');
  const op = await operator();
  expect((await admin(op, { op: 'retry', name: 'calm' })).result).toEqual({ moved: 0, remaining: 0 });
  await c.createQueue('calm.dlq', 'calm.>');
  expect(await admin(op, { op: 'retry', name: 'calm.dlq' })).toMatchObject({ t: 'err', code: 'INVALID_FRAME', details: { field: 'name' } });
  expect(await admin(op, { op: 'retry', name: 'nope' })).toMatchObject({ t: 'err', code: 'NOT_FOUND', details: { name: 'nope' } });
});

test('kick closes the named connection with 4006; unknown ids are NOT_FOUND; an operator may kick itself', async () => {
  await t.start();
  const op = await operator();
  const victim = await raw.open(t.broker.url, 'msgpack');
  const welcome = await victim.hello({ name: 'victim' });
  const before = (await admin(op, { op: 'connections' })).result as { id: string; name: string | null }[];
  expect(before.find((c) => c.name === 'victim')?.id).toBe(welcome.connectionId);

  expect(await admin(op, { op: 'kick', connection: welcome.connectionId })).toEqual({ t: 'ok', re: expect.any(Number) });
  expect(await victim.closed).toEqual({ code: 4006, reason: 'kicked by an operator' });
  const after = (await admin(op, { op: 'connections' })).result as { id: string }[];
  expect(after.map((c) => c.id)).not.toContain(welcome.connectionId);

  expect(await admin(op, { op: 'kick', connection: welcome.connectionId })).toMatchObject({
    t: 'err', code: 'NOT_FOUND', details: { connection: welcome.connectionId },
  });

  const self = await raw.open(t.broker.url, 'json');
  const own = await self.hello();
  expect(await admin(self, { op: 'kick', connection: own.connectionId })).toMatchObject({ t: 'ok' });
  expect((await self.closed).code).toBe(4006);
});

test('unknown names are NOT_FOUND; fields an op needs or does not use are INVALID_FRAME', async () => {
  await t.start();
  const op = await operator();
  for (const o of ['queue', 'purge']) {
    expect(await admin(op, { op: o, name: 'ghost' })).toMatchObject({ t: 'err', code: 'NOT_FOUND', details: { name: 'ghost' } });
  }
  expect(await admin(op, { op: 'space', name: 'ghost' })).toMatchObject({ t: 'err', code: 'NOT_FOUND', message: 'space "ghost" does not exist' });
  expect((await admin(op, { op: 'spaces' })).result).toEqual([]); // asking did not create it

  expect(await admin(op, { op: 'purge' })).toMatchObject({ t: 'err', code: 'INVALID_FRAME', details: { t: 'admin', field: 'name' } });
  expect(await admin(op, { op: 'kick' })).toMatchObject({ t: 'err', code: 'INVALID_FRAME', details: { field: 'connection' } });
  expect(await admin(op, { op: 'purge', name: 'x', peek: 1 })).toMatchObject({ t: 'err', code: 'INVALID_FRAME', details: { field: 'peek' } });
  expect(await admin(op, { op: 'queues', name: 'x' })).toMatchObject({ t: 'err', code: 'INVALID_FRAME', details: { field: 'name' } });
  expect(await admin(op, { op: 'drop' })).toMatchObject({ t: 'err', code: 'INVALID_FRAME', details: { field: 'op' } });
  expect(await admin(op, { op: 'queue', name: 'x', peek: 101 })).toMatchObject({ t: 'err', code: 'INVALID_FRAME', details: { field: 'peek' } });
  // `scope` matters in cluster mode only; on a broker on its own `node` and `cluster` answer alike.
  expect(await admin(op, { op: 'spaces', scope: 'node' })).toMatchObject({ t: 'err', code: 'INVALID_FRAME', details: { field: 'scope' } });
  expect(await admin(op, { op: 'subscriptions', scope: 'all' })).toMatchObject({ t: 'err', code: 'INVALID_FRAME', details: { field: 'scope' } });
  expect((await admin(op, { op: 'subscriptions', scope: 'node' })).result).toEqual([]);
  expect((await admin(op, { op: 'connections', scope: 'cluster' })).result).toHaveLength(1);
  await op.sync(); // the connection stayed open
});

test('cluster on a broker without the redis option: no node, no nodes, no queues from Redis', async () => {
  await t.start();
  const op = await operator('msgpack');
  expect(await admin(op, { op: 'cluster' })).toMatchObject({ t: 'report', op: 'cluster', result: { node: null, nodes: [], queues: [] } });
  expect(await admin(op, { op: 'cluster', name: 'x' })).toMatchObject({ t: 'err', code: 'INVALID_FRAME', details: { field: 'name' } });
});

test('peek shows the first ready messages and the oldest tuples without consuming them', async () => {
  await t.start();
  const c = await t.client();
  await c.createQueue('orders', 'orders.>');
  await publish(c, 'orders.eu', [{ n: 1 }, new Uint8Array([1, 2]), { n: 3 }]);
  const jobs = c.space('jobs');
  await jobs.out(['job', 1]);
  await jobs.out(['job', 2, 'x']);
  await jobs.out(['job', 3]);

  for (const codec of ['json', 'msgpack'] as const) {
    const op = await operator(codec);
    const q = await admin(op, { op: 'queue', name: 'orders', peek: 2 });
    expect(q.result.peek).toEqual([
      { mid: expect.any(String), topic: 'orders.eu', bytes: expect.any(Number), ageMs: expect.any(Number), deliveries: 0, data: { n: 1 } },
      { mid: expect.any(String), topic: 'orders.eu', bytes: expect.any(Number), ageMs: expect.any(Number), deliveries: 0, data: { $bin: 'AQI=' } },
    ]);
    const s = await admin(op, { op: 'space', name: 'jobs', peek: 2 });
    expect(s.result.peek).toEqual([
      { tid: expect.any(String), tuple: ['job', 1], expiresAt: null },
      { tid: expect.any(String), tuple: ['job', 2, 'x'], expiresAt: null },
    ]);
    // Without peek, the detail has no peek field.
    expect((await admin(op, { op: 'queue', name: 'orders' })).result).not.toHaveProperty('peek');
  }

  // The same over HTTP; bad values are 400.
  expect((await get('/api/queues/orders?peek=1')).peek.map((m: { data: unknown }) => m.data)).toEqual([{ n: 1 }]);
  expect((await get('/api/spaces/jobs?peek=5')).peek.map((x: { tuple: unknown }) => x.tuple)).toEqual([['job', 1], ['job', 2, 'x'], ['job', 3]]);
  for (const bad of ['0', '101', 'two']) {
    expect((await fetch(t.broker.url.replace(/^ws/, 'http') + `/api/queues/orders?peek=${bad}`)).status).toBe(400);
  }

  // Nothing was consumed.
  expect(await get('/api/queues/orders')).toMatchObject({ depth: 3, delivered: 0 });
  expect(await jobs.count(['job', { $any: true }])).toBe(2);
  const got = await take(c.subscribe<unknown>('orders.>', { durable: 'orders' }), 3);
  expect(got.map((m) => m.deliveryCount)).toEqual([1, 1, 1]);
});

test('the views answer what the HTTP API serves, with publish/ack and out/in rates', async () => {
  await t.start();
  const c = await t.client({ name: 'worker' });
  await c.createQueue('busy', 'busy.>');
  await c.createQueue('idle', 'idle.>');
  await publish(c, 'busy.x', [1, 2, 3, 4]);
  const got = await take(c.subscribe<number>('busy.>', { durable: 'busy' }), 4);
  for (const m of got.slice(0, 2)) m.ack();
  await c.flush();
  const jobs = c.space('jobs');
  await jobs.out(['a']);
  await jobs.out(['b']);
  await jobs.inp(['a']);

  const op = await operator();
  const queues = (await admin(op, { op: 'queues' })).result as Record<string, any>[];
  const volatile = ({ oldestAgeMs: _a, publishRate: _p, ackRate: _r, ...rest }: Record<string, any>) => rest;
  expect(queues.map(volatile)).toEqual((await get('/api/queues')).map(volatile));
  const [busy, idle] = queues;
  // Rates are per second over at most the last 10 s, measured over at least 1 s.
  expect(busy!.publishRate).toBeGreaterThan(0);
  expect(busy!.publishRate).toBeLessThanOrEqual(4);
  expect(busy!.ackRate).toBeGreaterThan(0);
  expect(busy!.ackRate).toBeLessThanOrEqual(busy!.publishRate);
  expect([idle!.publishRate, idle!.ackRate]).toEqual([0, 0]);

  const [space] = (await admin(op, { op: 'spaces' })).result as Record<string, any>[];
  expect(space).toMatchObject({ name: 'jobs', tuples: 1, outs: 2, ins: 1 });
  expect(space!.outRate).toBeGreaterThan(0);
  expect(space!.inRate).toBeGreaterThan(0);
  expect(space!.inRate).toBeLessThanOrEqual(space!.outRate);

  expect((await admin(op, { op: 'subscriptions' })).result).toEqual(await get('/api/subscriptions'));
  const names = ((await admin(op, { op: 'connections' })).result as { name: string | null }[]).map((x) => x.name).sort();
  expect(names).toEqual([null, 'worker']);
});

test('the SDK runs admin operations: client.admin() resolves with the result, rejects with the typed error', async () => {
  const operator = await t.client();
  const victim = await t.client();
  await operator.createQueue('jobs', 'jobs.>');
  await operator.publish('jobs.a', 1, { mode: 'persistent', ack: 'submission' });
  expect(await operator.admin({ op: 'queues' })).toEqual([expect.objectContaining({ name: 'jobs', depth: 1 })]);
  expect(await operator.admin({ op: 'purge', name: 'jobs' })).toEqual({ purged: 1 });
  await expect(operator.admin({ op: 'purge', name: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  await expect(operator.admin({ op: 'purge' })).rejects.toMatchObject({ code: 'INVALID_FRAME' });
  const status = victim.status();
  expect(await operator.admin({ op: 'kick', connection: victim.connectionId })).toBeUndefined();
  for (;;) {
    const { value } = await status.next();
    if (value?.type === 'disconnected') {
      expect(value.code).toBe(4006);
      break;
    }
  }
});
