/**
 * Scheduled delivery (issue 17): publishes and outs with `delay` or `deliverAt` are routed when
 * due and never before; persistent ones survive a restart of the broker on its data folder,
 * transient ones do not; cancel, receipts counted from the due time, limits, the admin view.
 * The SIGKILL test of a real `linden serve` is test/scheduled-crash.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Client, type Message } from '../client-sdk/index.js';
import { startBroker, type Broker, type BrokerOptions } from '../server/index.js';
import { take, testBroker } from './helpers/setup.js';

const t = testBroker();
let dataDir: string | undefined;
const extra: Array<Broker | Client> = [];
afterEach(async () => {
  await t.cleanup();
  for (const x of extra.splice(0).reverse()) await x.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

/** The next message of a subscription, with the wall-clock time it arrived at. */
async function arrival<T>(it: AsyncIterator<Message<T>>): Promise<{ m: Message<T>; at: number }> {
  const r = await it.next();
  return { m: r.value as Message<T>, at: Date.now() };
}

describe('publish with delay or deliverAt', () => {
  test('a transient message is routed at its due time, never before; the receipt names the id and due time', async () => {
    const pub = await t.client();
    const sub = await t.client();
    const s = sub.subscribe<string>('later.>');
    await s.ready;
    const it = s[Symbol.asyncIterator]();
    const before = Date.now();
    const receipt = await pub.publish('later.a', 'hello', { delay: 300, ack: 'submission' });
    expect(receipt).toMatchObject({ stage: 'submission', receivers: 0 });
    expect(receipt.due).toBeGreaterThanOrEqual(before + 300);
    const { m, at } = await arrival(it);
    expect(at).toBeGreaterThanOrEqual(receipt.due!);
    expect(m.id).toBe(receipt.id);
    expect(m.data).toBe('hello');
  });

  test('messages fall due in due-time order, whatever order they were published in', async () => {
    const pub = await t.client();
    const s = (await t.client()).subscribe<number>('order');
    await s.ready;
    const now = Date.now();
    for (const ms of [400, 100, 300, 0, 200]) await pub.publish('order', ms, { deliverAt: now + ms, ack: 'submission' });
    const got = await take(s, 5);
    expect(got.map((m) => m.data)).toEqual([0, 100, 200, 300, 400]);
  });

  test('a deliverAt in the past is due at once', async () => {
    const pub = await t.client();
    const s = (await t.client()).subscribe('past');
    await s.ready;
    await pub.publish('past', 1, { deliverAt: Date.now() - 60_000 });
    expect((await take(s, 1))[0]!.data).toBe(1);
  });

  test('a persistent message reaches a durable queue when due', async () => {
    const pub = await t.client();
    const consumer = await t.client();
    const q = consumer.subscribe<string>('jobs.>', { durable: 'jobs' });
    await q.ready;
    const it = q[Symbol.asyncIterator]();
    const receipt = await pub.publish('jobs.x', 'run', { mode: 'persistent', delay: 200, ack: 'submission' });
    const { m, at } = await arrival(it);
    expect(at).toBeGreaterThanOrEqual(receipt.due!);
    expect(m.id).toBe(receipt.id);
    m.ack();
  });

  test('a delivery receipt counts from the due time; a processing timeout starts at the due time', async () => {
    const pub = await t.client();
    const sub = await t.client();
    const s = sub.subscribe('rcpt');
    await s.ready;
    const start = Date.now();
    const delivered = await pub.publish('rcpt', 1, { delay: 200, ack: 'delivery', timeout: 100 });
    expect(delivered).toMatchObject({ stage: 'delivery', receivers: 1, delivered: 1, timedOut: false });
    expect(Date.now() - start).toBeGreaterThanOrEqual(200);
    // Nobody acks: the receipt times out 150 ms after the due time, not 150 ms after the publish.
    const processing = pub.publish('rcpt', 2, { delay: 300, ack: 'processing', timeout: 150 });
    const timedOut = await processing;
    expect(timedOut).toMatchObject({ stage: 'processing', timedOut: true, receivers: 1 });
    expect(Date.now() - start).toBeGreaterThanOrEqual(200 + 300 + 150);
  });

  test('5,000 scheduled messages cost one heap, not a timer each: all arrive in due order, none early', async () => {
    const pub = await t.client();
    const s = (await t.client()).subscribe<number>('many');
    await s.ready;
    // Broker and clients share this process: count the timers anything arms while the 5,000 are scheduled.
    const realSetTimeout = globalThis.setTimeout;
    let armed = 0;
    globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
      armed++;
      return realSetTimeout(...args);
    }) as typeof setTimeout;
    // Far enough ahead that all 5,000 are scheduled before the first falls due, even on a busy
    // machine: one published after its due time is routed at once, in publish order.
    const start = Date.now() + 2_000;
    const n = 5_000;
    // Due times in a scrambled order, 0.1 ms apart, 500 ms in all.
    const dues = Array.from({ length: n }, (_, i) => start + Math.floor(((i * 7_919) % n) / 10));
    try {
      await Promise.all(dues.map((at, i) => pub.publish('many', i, { deliverAt: at, ...(i === n - 1 ? { ack: 'submission' as const } : {}) })));
    } finally {
      globalThis.setTimeout = realSetTimeout;
    }
    // Re-armed only when a new earliest due time comes in: a handful, not 5,000.
    expect(armed).toBeLessThan(50);
    const got: Array<{ i: number; at: number }> = [];
    const it = s[Symbol.asyncIterator]();
    while (got.length < n) got.push({ i: (await it.next()).value!.data, at: Date.now() });
    expect(got.filter((g) => g.at < dues[g.i]!)).toEqual([]);
    const order = got.map((g) => dues[g.i]!);
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  test('refused: delay with deliverAt, a delay or deliverAt past maxScheduleDelayMs, a mid already pending', async () => {
    await t.start({ maxScheduleDelayMs: 1_000 });
    const c = await t.client();
    await expect(c.publish('x', 1, { delay: 10, deliverAt: Date.now(), ack: 'submission' })).rejects.toMatchObject({ code: 'INVALID_FRAME' });
    await expect(c.publish('x', 1, { delay: 1_001, ack: 'submission' })).rejects.toMatchObject({ code: 'SCHEDULE_TOO_FAR', details: { field: 'delay', limit: 1_000 } });
    await expect(c.publish('x', 1, { deliverAt: Date.now() + 5_000, ack: 'submission' })).rejects.toMatchObject({ code: 'SCHEDULE_TOO_FAR', details: { field: 'deliverAt' } });
    await c.publish('x', 1, { delay: 900, mid: 'm1', ack: 'submission' });
    await expect(c.publish('x', 1, { delay: 900, mid: 'm1', ack: 'submission' })).rejects.toMatchObject({ code: 'DUPLICATE_ID' });
  });

  test('maxScheduled and maxScheduledBytes refuse with SCHEDULE_FULL', async () => {
    await t.start({ maxScheduled: 2, maxScheduledBytes: 1_000 });
    const c = await t.client();
    await c.publish('a', 1, { delay: 60_000, ack: 'submission' });
    const second = await c.publish('a', 2, { delay: 60_000, ack: 'submission' });
    await expect(c.publish('a', 3, { delay: 60_000, ack: 'submission' })).rejects.toMatchObject({ code: 'SCHEDULE_FULL', details: { limit: 'maxScheduled' } });
    await c.cancelScheduled(second.id);
    await expect(c.publish('a', 'x'.repeat(2_000), { delay: 60_000, ack: 'submission' })).rejects.toMatchObject({ code: 'SCHEDULE_FULL', details: { limit: 'maxScheduledBytes' } });
    await c.publish('a', 4, { delay: 60_000, ack: 'submission' });
  });

  test('a delay past 2^31 ms is held (the heap re-arms) and listed, then cancelled', async () => {
    await t.start({ maxScheduleDelayMs: 365 * 24 * 3600 * 1000 });
    const c = await t.client();
    const far = 100 * 24 * 3600 * 1000;
    const s = c.subscribe('far.>');
    await s.ready;
    const receipt = await c.publish('far.a', 1, { delay: far, ack: 'submission' });
    // A timer given more than 2^31 - 1 ms fires after 1 ms: one due after it must still come first.
    await c.publish('far.b', 2, { delay: 50, ack: 'submission' });
    expect((await take(s, 1))[0]!.topic).toBe('far.b');
    const list = await (await fetch(`${t.broker.url.replace('ws', 'http')}/api/scheduled`)).json() as Array<{ id: string; due: string; mode: string }>;
    expect(list).toEqual([expect.objectContaining({ id: receipt.id, kind: 'pub', target: 'far.a', mode: 'transient', due: new Date(receipt.due!).toISOString() })]);
    const metrics = await (await fetch(`${t.broker.url.replace('ws', 'http')}/metrics`)).text();
    expect(metrics).toMatch(/^linden_scheduled 1$/m);
    expect(metrics).toMatch(/^linden_scheduled_total\{event="delivered"\} 1$/m);
    await c.cancelScheduled(receipt.id);
    expect(await (await fetch(`${t.broker.url.replace('ws', 'http')}/api/scheduled`)).json()).toEqual([]);
    expect(await (await fetch(`${t.broker.url.replace('ws', 'http')}/metrics`)).text()).toMatch(/^linden_scheduled 0$/m);
  });
});

describe('cancel', () => {
  test('a cancelled message is never delivered; a second cancel and an unknown id answer NOT_SCHEDULED', async () => {
    const pub = await t.client();
    const s = (await t.client()).subscribe('c');
    await s.ready;
    const receipt = await pub.publish('c', 'cancelled', { delay: 150, ack: 'submission' });
    await pub.cancelScheduled(receipt.id);
    await expect(pub.cancelScheduled(receipt.id)).rejects.toMatchObject({ code: 'NOT_SCHEDULED' });
    await expect(pub.cancelScheduled('nope')).rejects.toMatchObject({ code: 'NOT_SCHEDULED' });
    // Published to fall due after the cancelled one would have: the first to arrive must be it.
    await pub.publish('c', 'marker', { delay: 300, ack: 'submission' });
    expect((await take(s, 1))[0]!.data).toBe('marker');
    await expect(pub.cancelScheduled(receipt.id)).rejects.toMatchObject({ code: 'NOT_SCHEDULED' });
  });

  test('a publisher waiting for a delivery receipt hears of the cancel', async () => {
    const pub = await t.client();
    const waiting = expect(pub.publish('w', 1, { delay: 60_000, ack: 'delivery', mid: 'wait-1' }))
      .rejects.toMatchObject({ code: 'NOT_SCHEDULED', details: { cancelled: true } });
    await pub.flush();
    const other = await t.client();
    await other.cancelScheduled('wait-1');
    await waiting;
  });

  test('only the user who scheduled it, one allowed to publish on its topic, or an admin may cancel', async () => {
    const users = [
      { user: 'a', password: 'plain:a', permissions: { publish: { allow: ['a.>'] } } },
      { user: 'b', password: 'plain:b', permissions: { publish: { allow: ['b.>'] } } },
      { user: 'c', password: 'plain:c', permissions: { publish: { allow: ['>'] } } },
      { user: 'ops', password: 'plain:ops', permissions: { admin: true } },
    ];
    await t.start({ auth: { users } });
    const a = await t.client({ user: 'a', password: 'a', reconnect: false });
    const b = await t.client({ user: 'b', password: 'b', reconnect: false });
    const c = await t.client({ user: 'c', password: 'c', reconnect: false });
    const r1 = await a.publish('a.x', 1, { delay: 60_000, ack: 'submission' });
    const r2 = await a.publish('a.y', 2, { delay: 60_000, ack: 'submission' });
    const r3 = await a.publish('a.z', 3, { delay: 60_000, ack: 'submission' });
    await expect(b.cancelScheduled(r1.id)).rejects.toMatchObject({ code: 'NOT_SCHEDULED' });
    await a.cancelScheduled(r1.id);
    await c.cancelScheduled(r2.id);
    const ops = await t.client({ user: 'ops', password: 'ops', reconnect: false });
    await ops.cancelScheduled(r3.id);
  });
});

describe('space.out with delay', () => {
  test('the tuple enters the space when due: not found before, taken after', async () => {
    const c = await t.client();
    const space = c.space('later');
    const lease = await space.out(['job', 1], { delay: 250 });
    expect(lease!.due).toBeGreaterThan(Date.now());
    expect(await space.inp(['job', { $any: true }])).toBeNull();
    const taken = await space.in(['job', { $any: true }], { timeout: 5_000 });
    expect(Date.now()).toBeGreaterThanOrEqual(lease!.due!);
    expect(taken).toEqual(['job', 1]);
  });

  test('a scheduled out is cancelled by its lease id', async () => {
    const c = await t.client();
    const space = c.space('later2');
    const lease = await space.out(['x'], { delay: 100 });
    await c.cancelScheduled(lease!.id);
    await space.out(['marker'], { delay: 200 });
    expect(await space.in([{ $any: true }], { timeout: 5_000 })).toEqual(['marker']);
    expect(await space.inp([{ $any: true }])).toBeNull();
  });
});

describe('across a restart on the same data folder', () => {
  async function open(options: BrokerOptions = {}): Promise<Broker> {
    const broker = await startBroker({ port: 0, logLevel: 'silent', dataDir, ...options });
    extra.push(broker);
    return broker;
  }

  test('persistent messages and tuples are delivered after the restart, not before their time; transient ones are dropped', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'linden-scheduled-'));
    const first = await open();
    const pub = await connect(first.url, { reconnect: false });
    // A JSON publisher: its schedules are stored in its codec's form and delivered in the subscriber's.
    const jsonPub = await connect(first.url, { reconnect: false, codec: 'json' });
    await pub.createQueue('later', 'later.>');
    const kept = await pub.publish('later.kept', 'kept', { mode: 'persistent', delay: 3_000, ack: 'submission' });
    const fromJson = await jsonPub.publish('later.json', { n: [1, 2] }, { mode: 'persistent', delay: 3_000, ack: 'submission' });
    await jsonPub.close();
    await pub.publish('later.dropped', 'dropped', { delay: 3_000, ack: 'submission' });
    await pub.space('jobs', { persistent: true }).out(['run'], { delay: 3_000 });
    await pub.close();
    await first.close();
    extra.splice(extra.indexOf(first), 1);

    // The delay outlasts a slow restart: they are still scheduled when listed.
    const second = await open();
    const list = await (await fetch(`${second.url.replace('ws', 'http')}/api/scheduled`)).json() as Array<{ kind: string; mode: string }>;
    expect(list.map((r) => `${r.kind} ${r.mode}`).sort()).toEqual(['out persistent', 'pub persistent', 'pub persistent']);
    const consumer = await connect(second.url, { reconnect: false });
    extra.push(consumer);
    const q = consumer.subscribe<string>('later.>', { durable: 'later' });
    const it = q[Symbol.asyncIterator]();
    const arrived = [await arrival(it), await arrival(it)];
    const dueOf = new Map([[kept.id, kept.due!], [fromJson.id, fromJson.due!]]);
    for (const { m, at } of arrived) {
      expect(at).toBeGreaterThanOrEqual(dueOf.get(m.id)!);
      m.ack();
    }
    expect(arrived.map(({ m }) => [m.id, m.data]).sort()).toEqual([[kept.id, 'kept'], [fromJson.id, { n: [1, 2] }]].sort());
    expect(await consumer.space('jobs').in(['run'], { timeout: 5_000 })).toEqual(['run']);
    expect(await (await fetch(`${second.url.replace('ws', 'http')}/api/scheduled`)).json()).toEqual([]);
  });
});
