import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LINDEN_VERSION, PROTOCOL_VERSION } from '../protocol/version.js';
import { take, testBroker } from './helpers/setup.js';

const t = testBroker();
let dataDir: string | undefined;
afterEach(async () => {
  await t.cleanup();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

/** GET on the broker's own port: the WebSocket URL with http instead of ws. */
async function get(path: string, method = 'GET'): Promise<{ status: number; type: string; text: string; body: any }> {
  const res = await fetch(t.broker.url.replace(/^ws/, 'http') + path, { method });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, type, text, body: type.startsWith('application/json') ? JSON.parse(text) : undefined };
}

/** The samples of a Prometheus text exposition, keyed by `name{labels}` as printed. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

test('/healthz reports liveness and which store keeps the data', async () => {
  await t.start();
  expect(await get('/healthz')).toMatchObject({ status: 200, body: { status: 'ok', store: 'memory', durable: false } });
  await t.cleanup();
  dataDir = await mkdtemp(join(tmpdir(), 'linden-admin-'));
  await t.start({ dataDir });
  expect((await get('/healthz')).body).toEqual({ status: 'ok', store: 'lmdb', durable: true });
});

test('queues: every field, and the stall reasons', async () => {
  await t.start();
  const producer = await t.client({ name: 'producer' });
  await producer.createQueue('idle', 'idle.>');
  await producer.createQueue('busy', 'busy.>', { maxInFlight: 1, maxDeliveries: 1 });
  const before = Date.now();
  for (let n = 0; n < 2; n++) await producer.publish('idle.x', { n }, { mode: 'persistent', ack: 'submission' });
  const mids: string[] = [];
  for (let n = 0; n < 4; n++) mids.push((await producer.publish('busy.x', { n }, { mode: 'persistent', ack: 'submission' })).id);

  // The first message is nacked once, so with maxDeliveries 1 it goes to busy.dlq; the next stays unacked.
  const worker = await t.client({ name: 'worker' });
  const sub = worker.subscribe<{ n: number }>('busy.>', { durable: 'busy' });
  const [first] = await take(sub, 1);
  first!.nack();
  const [second] = await take(sub, 1);
  expect(second!.data.n).toBe(1);
  await worker.flush();

  const list = await get('/api/queues');
  expect(list.status).toBe(200);
  expect(list.body.map((q: { name: string }) => q.name)).toEqual(['busy', 'busy.dlq', 'idle']);
  const [busy, dlq, idle] = list.body;
  expect(idle).toEqual({
    name: 'idle', pattern: 'idle.>', depth: 2, inFlight: 0, delayed: 0, messages: 2, bytes: expect.any(Number), consumers: 0,
    deadLetters: 0, oldestAgeMs: expect.any(Number), stalled: 'no consumers',
    published: 2, delivered: 0, acked: 0, redelivered: 0, deadLettered: 0, expired: 0, dropped: 0, purged: 0, retried: 0, createdAt: expect.any(Number),
    publishRate: expect.any(Number), ackRate: 0,
  });
  expect(idle.publishRate).toBeGreaterThan(0);
  expect(idle.bytes).toBeGreaterThan(0);
  expect(idle.oldestAgeMs).toBeGreaterThanOrEqual(0);
  expect(idle.oldestAgeMs).toBeLessThanOrEqual(Date.now() - before + 5);
  expect(busy).toMatchObject({
    name: 'busy', pattern: 'busy.>', depth: 2, inFlight: 1, delayed: 0, messages: 3, consumers: 1, deadLetters: 1,
    stalled: 'all consumers at maxInFlight', published: 4, delivered: 2, acked: 0, redelivered: 0, deadLettered: 1,
  });
  expect(dlq).toMatchObject({ name: 'busy.dlq', pattern: null, depth: 1, inFlight: 0, consumers: 0, deadLetters: 0, stalled: 'no consumers', published: 1 });

  const detail = await get('/api/queues/busy');
  expect(detail.body).toEqual({
    ...busy,
    oldestAgeMs: expect.any(Number),
    publishRate: expect.any(Number),
    config: { ackWait: 30_000, maxInFlight: 1, maxDeliveries: 1, maxMessages: 1_000_000, maxBytes: 256 * 1024 * 1024, overflow: 'reject' },
    consumerList: [{ connection: expect.stringMatching(/^c\d+-/), name: 'worker', sid: expect.any(Number), inFlight: 1 }],
    head: [1, 2, 3].map((n) => ({
      mid: mids[n], topic: 'busy.x', bytes: expect.any(Number), ageMs: expect.any(Number),
      deliveries: n === 1 ? 1 : 0, state: n === 1 ? 'in flight' : 'ready',
    })),
  });
  expect(detail.body.head[0].bytes).toBeGreaterThan(0);

  // Acking frees the consumer: nothing is stuck any more.
  second!.ack();
  await take(sub, 1);
  await worker.flush();
  expect((await get('/api/queues/busy')).body).toMatchObject({ depth: 1, inFlight: 1, acked: 1, stalled: 'all consumers at maxInFlight' });
  sub.unsubscribe();
  await worker.flush();
  expect((await get('/api/queues/busy')).body).toMatchObject({ depth: 2, inFlight: 0, consumers: 0, stalled: 'no consumers' });

  expect(await get('/api/queues/nope')).toMatchObject({ status: 404, body: { error: 'NOT_FOUND', message: 'queue "nope" does not exist' } });
  expect((await get('/api/queues/busy.dlq')).body.name).toBe('busy.dlq');
});

test('a full queue reports the overflow as its stall', async () => {
  await t.start();
  const c = await t.client();
  await c.createQueue('tiny', 'tiny.>', { maxMessages: 1, maxInFlight: 5 });
  await c.publish('tiny.x', 1, { mode: 'persistent', ack: 'submission' });
  const sub = c.subscribe('tiny.>', { durable: 'tiny' });
  await take(sub, 1); // in flight, unacked: the queue is full while its consumer has room
  await c.flush();
  expect((await get('/api/queues/tiny')).body).toMatchObject({ depth: 0, inFlight: 1, stalled: 'full: new publishes are refused (overflow reject)' });
});

test('a queue detail lists the first ten messages in line, oldest first, whatever their state', async () => {
  await t.start();
  const c = await t.client();
  await c.createQueue('long', 'long.>', { maxInFlight: 2 });
  const mids: string[] = [];
  for (let n = 0; n < 12; n++) mids.push((await c.publish('long.x', n, { mode: 'persistent', ack: 'submission' })).id);
  const sub = c.subscribe<number>('long.>', { durable: 'long' });
  const [a, b] = await take(sub, 2);
  a!.nack({ delay: 60_000 }); // waits out its delay: "delayed", still first in line
  b!.ack();
  await take(sub, 2);
  await c.flush();
  const { body } = await get('/api/queues/long');
  expect(body).toMatchObject({ messages: 11, delayed: 1, inFlight: 2, depth: 8 });
  expect(body.head.map((m: { mid: string; state: string }) => [m.mid, m.state])).toEqual([
    [mids[0], 'delayed'], [mids[2], 'in flight'], [mids[3], 'in flight'],
    ...[4, 5, 6, 7, 8, 9, 10].map((n) => [mids[n], 'ready']),
  ]);
});

test('spaces: every field, waiting and notify included; unknown names are 404 and not created', async () => {
  await t.start();
  const c = await t.client();
  const jobs = c.space('jobs');
  await jobs.out(['job', 1]);
  await jobs.out(['job', 2]);
  await jobs.inp(['job', 1]);
  const waiter = await t.client();
  const waiting = waiter.space('jobs').in(['never']);
  waiting.catch(() => {});
  const events = waiter.space('jobs').notify(['job', { $any: true }]);
  await events.ready;
  await waiter.flush();
  await c.space('kept', { persistent: true }).out(['k']);

  const list = await get('/api/spaces');
  expect(list.body).toEqual([
    { name: 'jobs', persistent: false, tuples: 1, reserved: 0, bytes: expect.any(Number), waiting: 1, notify: 1, outs: 2, ins: 1, outRate: expect.any(Number), inRate: expect.any(Number) },
    { name: 'kept', persistent: true, tuples: 1, reserved: 0, bytes: expect.any(Number), waiting: 0, notify: 0, outs: 1, ins: 0, outRate: expect.any(Number), inRate: 0 },
  ]);
  expect(list.body[0].bytes).toBeGreaterThan(0);
  expect((await get('/api/spaces/kept')).body).toEqual({ ...list.body[1], outRate: expect.any(Number) });
  expect(await get('/api/spaces/ghost')).toMatchObject({ status: 404, body: { error: 'NOT_FOUND' } });
  expect((await get('/api/spaces')).body).toHaveLength(2);
});

test('connections: identity, codec, subscriptions and message counts', async () => {
  await t.start();
  const pub = await t.client({ name: 'pub', codec: 'json' });
  const sub = await t.client({ name: 'sub' });
  const a = sub.subscribe('news.a');
  const b = sub.subscribe('news.b');
  await Promise.all([a.ready, b.ready]);
  for (let n = 0; n < 3; n++) await pub.publish('news.a', n, { ack: 'submission' });
  await take(a, 3);
  await Promise.all([pub.flush(), sub.flush()]);

  const { body } = await get('/api/connections');
  const byName = new Map(body.map((c: { name: string }) => [c.name, c]));
  expect(byName.get('pub')).toEqual({
    id: expect.stringMatching(/^c\d+-/), name: 'pub', remoteAddress: expect.stringMatching(/127\.0\.0\.1/), codec: 'json',
    subscriptions: 0, pendingBytes: 0, stalledMs: 0, messagesIn: 5, messagesOut: 0, dropped: 0, will: null, // hello, 3 pub, ping
  });
  expect(byName.get('sub')).toMatchObject({ name: 'sub', codec: 'msgpack', subscriptions: 2, pendingBytes: 0, messagesOut: 3, messagesIn: 4 });
});

test('subscriptions: live subscribers per pattern, group and durable queue', async () => {
  await t.start();
  const a = await t.client();
  const b = await t.client();
  const subs = [
    a.subscribe('news.>'), b.subscribe('news.>'),
    a.subscribe('jobs.*', { group: 'workers' }), b.subscribe('jobs.*', { group: 'workers' }), b.subscribe('jobs.*', { group: 'workers' }),
    a.subscribe('orders.>', { durable: 'billing' }),
  ];
  await Promise.all(subs.map((s) => s.ready));
  const [ida, idb] = ((await get('/api/connections')).body as { id: string }[]).map((c) => c.id);
  expect((await get('/api/subscriptions')).body).toEqual([
    { pattern: 'jobs.*', group: 'workers', durable: null, subscribers: 3, connections: [ida, idb] },
    { pattern: 'news.>', group: null, durable: null, subscribers: 2, connections: [ida, idb] },
    { pattern: 'orders.>', group: null, durable: 'billing', subscribers: 1, connections: [ida] },
  ]);
});

test('HTTP routing: / still asks for an upgrade, unknown paths are 404, nothing can be changed', async () => {
  await t.start();
  const root = await get('/');
  expect(root.status).toBe(426);
  expect(root.text).toMatch(/WebSocket/);
  expect(await get('/nope')).toMatchObject({ status: 404, body: { error: 'NOT_FOUND' } });
  expect(await get('/healthz/deeper')).toMatchObject({ status: 404 });
  expect(await get('/api/connections/x')).toMatchObject({ status: 404 });
  expect(await get('/api/queues', 'DELETE')).toMatchObject({ status: 405, body: { error: 'METHOD_NOT_ALLOWED' } });
  expect(await get('/api/queues/a%2')).toMatchObject({ status: 400 });
  expect((await get('/healthz?verbose=1')).status).toBe(200);
});

test('/metrics is Prometheus text whose values move with traffic', async () => {
  await t.start();
  const c = await t.client();
  await c.createQueue('m', 'm.>', { maxDeliveries: 1 });
  const scrape = async () => {
    const res = await get('/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
    return samples(res.text);
  };
  const before = await scrape();
  expect(before.get('linden_connections')).toBe(1);
  expect(before.get('linden_queue_depth{queue="m"}')).toBe(0);
  expect(before.get('linden_messages_in_total{mode="persistent"}')).toBe(0);

  const live = c.subscribe('m.>');
  await live.ready;
  for (let n = 0; n < 3; n++) await c.publish('m.x', n, { mode: 'persistent', ack: 'submission' });
  await c.publish('m.x', 'transient', { ack: 'submission' });
  await take(live, 4);
  await c.space('s').out(['t', 1]);

  const mid = await scrape();
  expect(mid.get('linden_messages_in_total{mode="persistent"}')).toBe(3);
  expect(mid.get('linden_messages_in_total{mode="transient"}')).toBe(1);
  expect(mid.get('linden_messages_out_total{mode="transient"}')).toBe(4);
  expect(mid.get('linden_queue_depth{queue="m"}')).toBe(3);
  expect(mid.get('linden_space_tuples{space="s"}')).toBe(1);
  expect(mid.get('linden_space_ops_total{space="s",op="out"}')).toBe(1);

  const durable = c.subscribe('m.>', { durable: 'm' });
  const got = await take(durable, 3);
  got[0]!.ack();
  got[1]!.ack();
  got[2]!.nack();
  await c.flush();
  const after = await scrape();
  expect(after.get('linden_queue_depth{queue="m"}')).toBe(0);
  expect(after.get('linden_messages_out_total{mode="persistent"}')).toBe(3);
  expect(after.get('linden_queue_deliveries_total{queue="m"}')).toBe(3);
  expect(after.get('linden_queue_acks_total{queue="m"}')).toBe(2);
  expect(after.get('linden_queue_dead_letters_total{queue="m"}')).toBe(1);
  expect(after.get('linden_queue_depth{queue="m.dlq"}')).toBe(1);
  expect(after.get('linden_queue_consumers{queue="m"}')).toBe(1);
});

/** The metric names of a Prometheus text exposition, from its `# TYPE` lines. */
function metricNames(text: string): Set<string> {
  return new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
}

test('/metrics has the standard process and Node.js metrics, unprefixed, and linden_build_info', async () => {
  await t.start();
  const text = (await get('/metrics')).text;
  const names = metricNames(text);
  // The names the usual Node.js dashboards and alerts query.
  for (const name of [
    'process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'process_open_fds',
    'nodejs_heap_size_used_bytes', 'nodejs_heap_size_total_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_gc_duration_seconds',
    'nodejs_version_info',
  ]) {
    expect(names).toContain(name);
  }
  expect([...names].filter((n) => n.startsWith('linden_nodejs_') || n.startsWith('linden_process_'))).toEqual([]);
  const build = samples(text);
  expect(build.get(`linden_build_info{version="${LINDEN_VERSION}",node="${process.version}",protocol="${PROTOCOL_VERSION}"}`)).toBe(1);
});

test('/metrics times store commits on an LMDB broker', async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'linden-admin-'));
  await t.start({ dataDir });
  const c = await t.client();
  await c.createQueue('disk', 'disk.>');
  const count = async () => samples((await get('/metrics')).text).get('linden_store_commit_seconds_count') ?? 0;
  const before = await count();
  for (let n = 0; n < 3; n++) await c.publish('disk.x', n, { mode: 'persistent', ack: 'submission' });
  expect(await count()).toBeGreaterThanOrEqual(before + 3);
});

test('two brokers in one process keep separate metrics', async () => {
  await t.start();
  const other = testBroker();
  try {
    const b = await other.start();
    await (await other.client()).space('only-here').out(['x']);
    const text = await (await fetch(b.url.replace(/^ws/, 'http') + '/metrics')).text();
    expect(samples(text).get('linden_space_tuples{space="only-here"}')).toBe(1);
    const first = (await get('/metrics')).text;
    expect(samples(first).has('linden_space_tuples{space="only-here"}')).toBe(false);
    // Both serve the one process-wide set of default metrics, registered once.
    for (const names of [metricNames(text), metricNames(first)]) {
      expect(names).toContain('process_cpu_seconds_total');
      expect(names).toContain('linden_build_info');
    }
  } finally {
    await other.cleanup();
  }
});
