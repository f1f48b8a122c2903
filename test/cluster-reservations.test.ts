/**
 * Reservations in the cluster's tuple spaces (issue 15, protocol.md §10.8): a tuple taken under
 * reservation on one node is hidden from every node; ack takes it for good, nack, the end of the
 * reservation or the taker leaving put it back where it was, served to waiters in arrival order.
 * The SIGKILL test runs the built CLI (`npm run build`).
 */
import { connect } from '../client-sdk/index.js';
import { ChildTracker } from './helpers/child-process.js';
import { testCluster } from './helpers/cluster.js';
import { rawClients } from './helpers/raw-client.js';
import { clusterRedis } from './helpers/cluster-redis.js';
import { serveProcess } from './helpers/serve-process.js';
import { take, until } from './helpers/setup.js';

const shared = clusterRedis();
const t = testCluster();
const raw = rawClients();
const children = new ChildTracker();

const start = () => t.start(shared.server.url, 3);
afterEach(async () => {
  await raw.closeAll();
  await children.killAll();
});

/** Nothing of a reservation is left in Redis: its entry in the space and its filed end. */
async function noReservations(space: string): Promise<void> {
  let left = -1;
  await until(() => left === 0, 5_000, async () => {
    const filed = (await shared.inspect.zrange('{linden}:reservations', 0, -1)).filter((m) => m.endsWith(` ${space}`));
    left = (await shared.inspect.hlen(`{ls:${space}}:r`)) + filed.length;
  });
}

describe('cluster reservations', () => {
  // One cluster for these tests (three starts on Redis per test were most of the file's time):
  // each uses spaces of its own.
  beforeAll(start);
  afterEach(() => t.closeClients());
  afterAll(() => t.cleanup());

  test('reserved on one node, hidden on every node; ack takes it for good everywhere', async () => {
    const [a, b, c] = await Promise.all([t.client(0), t.client(1), t.client(2)]);
    const watch = c.space('acked').notify(['job', { $any: true }], { events: ['in'] });
    await watch.ready;
    await b.space('acked').out(['job', 1]);
    const r = (await a.space('acked').in(['job', { $any: true }], { reserve: 60_000 }))!;
    expect(r.tuple).toEqual(['job', 1]);
    expect(await b.space('acked').rdp(['job', { $any: true }])).toBeNull();
    expect(await c.space('acked').count(['job', { $any: true }])).toBe(0);
    await r.ack();
    const [event] = await take(watch, 1);
    watch.return?.();
    expect(event).toMatchObject({ type: 'in', tuple: ['job', 1], id: r.id });
    await expect(r.ack()).rejects.toMatchObject({ code: 'UNKNOWN_ID' });
    expect(await c.space('acked').inp(['job', { $any: true }])).toBeNull();
    expect(await shared.inspect.hlen('{ls:acked}:t')).toBe(0);
    await noReservations('acked');
  });

  test('nack puts it back where it was: visible on another node, still the oldest', async () => {
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    await b.space('nacked').out(['job', 1]);
    await b.space('nacked').out(['job', 2]);
    const r = (await a.space('nacked').in(['job', { $any: true }], { reserve: 60_000 }))!;
    expect(r.tuple).toEqual(['job', 1]);
    expect(await b.space('nacked').rdAll(['job', { $any: true }])).toEqual([['job', 2]]);
    await r.nack();
    expect(await b.space('nacked').rdAll(['job', { $any: true }])).toEqual([['job', 1], ['job', 2]]);
    expect(await b.space('nacked').inp(['job', { $any: true }])).toEqual(['job', 1]);
    await noReservations('nacked');
  });

  test('a tuple put back goes to the waiters of every node in arrival order, as an out would', async () => {
    const [a, b, c] = await Promise.all([t.client(0), t.client(1), t.client(2)]);
    const first = b.space('queue').in(['job', { $any: true }], { reserve: 60_000 });
    await shared.waitersFiled('queue', 2, 1);
    const second = c.space('queue').in(['job', { $any: true }]);
    await shared.waitersFiled('queue', 2, 2);
    await a.space('queue').out(['job', 1]); // handed to the first waiter, reserved for it
    const r = (await first)!;
    expect(r.tuple).toEqual(['job', 1]);
    expect(await a.space('queue').rdp(['job', { $any: true }])).toBeNull();
    await r.nack();
    expect(await second).toEqual(['job', 1]);
    await noReservations('queue');
  });

  test('inp with reserve (no wait) over the wire: the answer carries a rid that settle takes on its node', async () => {
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    await a.space('inp').out(['job', 1]);
    const c = await raw.connect(t.brokers[1]!.url, 'json');
    expect(await c.call({ t: 'in', id: 1, space: 'inp', template: ['job', 2], wait: false, reserve: 60_000 })).toEqual({ t: 'tuple', re: 1, tuple: null });
    const got = await c.call({ t: 'in', id: 2, space: 'inp', template: ['job', 1], wait: false, reserve: 60_000 });
    expect(got).toMatchObject({ t: 'tuple', re: 2, tuple: ['job', 1], rid: expect.any(String) });
    expect(await b.space('inp').rdp(['job', 1])).toBeNull();
    expect(await c.call({ t: 'settle', id: 3, rid: (got as unknown as { rid: string }).rid, ok: false })).toEqual({ t: 'ok', re: 3 });
    expect(await a.space('inp').rdp(['job', 1])).toEqual(['job', 1]);
    await noReservations('inp');
  });

  test('a reservation not settled in time comes back; so does one whose client left', async () => {
    const [a, b, c] = await Promise.all([t.client(0), t.client(1), t.client(2)]);
    await a.space('late').out(['job', 1]);
    const started = Date.now();
    const r = (await a.space('late').in(['job', 1], { reserve: 200 }))!;
    expect(r.tuple).toEqual(['job', 1]);
    expect(await b.space('late').in(['job', 1], { timeout: 10_000 })).toEqual(['job', 1]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    await expect(r.ack()).rejects.toMatchObject({ code: 'UNKNOWN_ID' });

    await a.space('late').out(['job', 2]);
    expect((await c.space('late').in(['job', 2], { reserve: 60_000 }))!.tuple).toEqual(['job', 2]);
    const back = b.space('late').in(['job', 2], { timeout: 10_000 });
    await shared.waitersFiled('late', 2, 1);
    await c.close();
    expect(await back).toEqual(['job', 2]);
    await noReservations('late');
  });

});

describe('cluster reservations when a node goes', () => {
  // A cluster for each test: these stop a node.
  beforeEach(start);
  afterEach(() => t.cleanup());

  test('the taker\'s broker closed without settling: the tuple is back on the other nodes', async () => {
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    await b.space('closed').out(['job', 1]);
    expect((await a.space('closed').in(['job', 1], { reserve: 500 }))!.tuple).toEqual(['job', 1]);
    const back = b.space('closed').in(['job', 1], { timeout: 10_000 });
    await t.brokers[0]!.close();
    expect(await back).toEqual(['job', 1]);
    await noReservations('closed');
  });

  test('the taker\'s broker process SIGKILLed: another node puts the tuple back once the reservation ends', async () => {
    const doomed = await serveProcess(children, ['--redis', shared.server.url, '--memory', '--log-level', 'warn']);
    const taker = await connect(doomed.url, { reconnect: false });
    const b = await t.client(1);
    await b.space('killed').out(['job', 1]);
    const started = Date.now();
    expect((await taker.space('killed').in(['job', 1], { reserve: 1_000 }))!.tuple).toEqual(['job', 1]);
    const back = b.space('killed').in(['job', 1], { timeout: 15_000 });
    await shared.waitersFiled('killed', 2, 1);
    doomed.child.child.kill('SIGKILL');
    await doomed.child.exited;
    expect(await back).toEqual(['job', 1]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    await noReservations('killed');
    await taker.close().catch(() => undefined);
  }, 30_000);
});
