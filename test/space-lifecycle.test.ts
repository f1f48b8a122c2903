/**
 * A tuple's life past the plain paths: which waiters a new tuple reaches (§10.6), leases of
 * tuples that go through reservations (§10.7, §10.8), cancel of a reserved tuple, batches that
 * fail or take their own tuples (§10.10), and the frame checks of `out` and `in`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TupleEvent } from '../client-sdk/index.js';
import { rawClients } from './helpers/raw-client.js';
import { take, testBroker } from './helpers/setup.js';
import { sharedTestBroker } from './helpers/shared-brokers.js';

// One broker per set of options for the file, each test on spaces of its own; the restart test
// has a broker of its own.
const t = sharedTestBroker();
const own = testBroker();
const raw = rawClients();
afterEach(async () => {
  await raw.closeAll();
  await own.cleanup();
  await t.cleanup();
});

const any = { $any: true };

/** The next `n` events, or a failure naming what did not come within `ms`. */
async function events(iterable: AsyncIterable<TupleEvent<unknown[]>>, n: number, ms = 5_000): Promise<[string, unknown[]][]> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`fewer than ${n} events within ${ms} ms`)), ms);
  });
  try {
    const got = await Promise.race([take(iterable, n), timeout]);
    return got.map((e) => [e.type, e.tuple]);
  } finally {
    clearTimeout(timer);
  }
}

/** Lets `ms` pass on the broker's side too: a blocking rd that nobody answers. */
async function pass(ms: number): Promise<void> {
  const c = await t.client();
  expect(await c.space('clock').rd(['never'], { timeout: ms })).toBeNull();
}

describe('a new tuple and the waiters (§10.6)', () => {
  test('every waiting rd gets a copy, also those that started waiting after the in that takes it', async () => {
    const [early, taker, late] = await Promise.all([t.client(), t.client(), t.client()]);
    const rd1 = early.space('rds').rd(['news', any]);
    await early.flush();
    const taking = taker.space('rds').in(['news', any]);
    await taker.flush();
    const rd2 = late.space('rds').rd([any, 'hello']);
    await late.flush();
    const writer = (await t.client()).space('rds');
    await writer.out(['news', 'hello']);
    expect(await Promise.all([rd1, taking, rd2])).toEqual([['news', 'hello'], ['news', 'hello'], ['news', 'hello']]);
    expect(await writer.rdp([any, any])).toBeNull();
  });

  test('waiters filed under different values are still served in arrival order', async () => {
    const clients = await Promise.all([t.client(), t.client(), t.client(), t.client()]);
    const templates = [['task', { $type: 'integer' }], [any, 5], ['task', 5], [any, any]];
    const served: Promise<number>[] = [];
    for (let i = 0; i < templates.length; i++) {
      served.push(clients[i]!.space('order').in(templates[i]!).then(() => i));
      await clients[i]!.flush();
    }
    const writer = (await t.client()).space('order');
    const left = new Set(served.keys());
    for (let n = 0; n < templates.length; n++) {
      await writer.out(['task', 5]); // matches every template: only the oldest waiter may get it
      const first = await Promise.race([...left].map((i) => served[i]!));
      expect(first).toBe(n);
      left.delete(first);
    }
  });

  test('request/reply over a space: each reply reaches its own requester among many', async () => {
    const requester = await t.client();
    const s = requester.space('rr');
    const pending = Array.from({ length: 200 }, (_, i) => s.in(['reply', i, any]));
    await requester.flush();
    const responder = (await t.client()).space('rr');
    for (let i = 199; i >= 0; i--) void responder.out(['reply', i, `answer ${i}`], { ack: 'none' });
    expect(await Promise.all(pending)).toEqual(Array.from({ length: 200 }, (_, i) => ['reply', i, `answer ${i}`]));
    expect(await responder.count([any, any, any])).toBe(0);
  });
});

describe('leases of tuples that went through a reservation (§10.7)', () => {
  test('handed straight to a reserving in, then put back: it still expires, with its event, and frees its place', async () => {
    await t.start({ maxTuplesPerSpace: 1 });
    const c = await t.client();
    const s = c.space('straight');
    const expiries = s.notify([any], { events: ['expire'] });
    await expiries.ready;
    const taking = s.in(['job'], { reserve: 60_000 });
    await c.flush();
    await s.out(['job'], { ttl: 1_000 });
    const reserved = (await taking)!;
    await reserved.nack();
    expect(await s.rdp(['job'])).toEqual(['job']); // back, lease still running
    expect(await events(expiries, 1)).toEqual([['expire', ['job']]]);
    expect(await s.rdp(['job'])).toBeNull();
    await s.out(['next']); // the expired tuple no longer counts toward maxTuplesPerSpace
  });

  test('put back by a reservation timeout: it expires later', async () => {
    const s = (await t.client()).space('timedout');
    const expiries = s.notify([any], { events: ['expire'] });
    await expiries.ready;
    await s.out(['job'], { ttl: 1_000 });
    expect(await s.in(['job'], { reserve: 50 })).not.toBeNull();
    await pass(100);
    expect(await s.rdp(['job'])).toEqual(['job']);
    expect(await events(expiries, 1)).toEqual([['expire', ['job']]]);
  });

  test('put back into the hands of another reserving in, then nacked: it still expires', async () => {
    const [a, b] = [await t.client(), await t.client()];
    const s = a.space('relay');
    const expiries = s.notify([any], { events: ['expire'] });
    await expiries.ready;
    await s.out(['job'], { ttl: 1_000 });
    const first = (await s.in(['job'], { reserve: 60_000 }))!;
    const second = b.space('relay').in(['job'], { reserve: 60_000 });
    await b.flush();
    await first.nack();
    await (await second)!.nack();
    expect(await events(expiries, 1)).toEqual([['expire', ['job']]]);
    expect(await s.rdp(['job'])).toBeNull();
  });

  test('renewed while reserved: it expires at the new end, not at the old one and not never', async () => {
    const s = (await t.client()).space('renewed');
    const expiries = s.notify([any], { events: ['expire'] });
    await expiries.ready;
    const lease = (await s.out(['job'], { ttl: 100 }))!;
    const held = (await s.in(['job'], { reserve: 60_000 }))!;
    await s.renew(lease.id, 1_000);
    await pass(200); // past the old end
    await held.nack();
    expect(await s.rdp(['job'])).toEqual(['job']);
    expect(await events(expiries, 1)).toEqual([['expire', ['job']]]);
  });

  test('a lease that ends during the reservation ends the tuple when it is put back; its writer hears reached: false', async () => {
    const writer = (await t.client()).space('ended');
    const taker = (await t.client()).space('ended');
    const expiries = taker.notify([any], { events: ['expire'] });
    await expiries.ready;
    const waiting = taker.in(['job'], { reserve: 60_000 });
    await taker.count(['job']); // the in is registered
    const processed = writer.out(['job'], { ttl: 100, ack: 'processing', timeout: 5_000 });
    const held = (await waiting)!;
    await pass(200);
    await held.nack();
    expect(await processed).toMatchObject({ reached: false, timedOut: false });
    expect(await events(expiries, 1)).toEqual([['expire', ['job']]]);
    expect(await taker.rdp(['job'])).toBeNull();
  });
});

describe('cancel of a reserved tuple (§10.7)', () => {
  test('the tuple does not come back when the reservation ends', async () => {
    const s = (await t.client()).space('cancel-nack');
    const expiries = s.notify([any], { events: ['expire'] });
    await expiries.ready;
    const lease = (await s.out(['job']))!;
    const held = (await s.in(['job'], { reserve: 60_000 }))!;
    await s.cancel(lease.id);
    await expect(s.cancel(lease.id)).rejects.toMatchObject({ code: 'UNKNOWN_ID' });
    await held.nack();
    expect(await events(expiries, 1)).toEqual([['expire', ['job']]]);
    expect(await s.rdp(['job'])).toBeNull();
  });

  test('a reservation that times out or loses its connection does not bring it back either', async () => {
    const holder = await t.client();
    const s = holder.space('cancel-drop');
    const a = (await s.out(['a']))!;
    const b = (await s.out(['b']))!;
    expect(await s.in(['a'], { reserve: 50 })).not.toBeNull();
    expect(await s.in(['b'], { reserve: 60_000 })).not.toBeNull();
    const other = (await t.client()).space('cancel-drop');
    await other.cancel(a.id);
    await other.cancel(b.id);
    await holder.close();
    await pass(100);
    expect(await other.rdAll([any])).toEqual([]);
  });

  test('an ack still succeeds and takes it', async () => {
    const s = (await t.client()).space('cancel-ack');
    const seen = s.notify([any]);
    await seen.ready;
    const lease = (await s.out(['job']))!;
    const held = (await s.in(['job'], { reserve: 60_000 }))!;
    await s.cancel(lease.id);
    await held.ack();
    expect(await events(seen, 2)).toEqual([['out', ['job']], ['in', ['job']]]);
  });

  test('in a persistent space it leaves the store at once: not back after a restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'linden-cancel-'));
    try {
      await own.start({ dataDir });
      const s = (await own.client()).space('kept', { persistent: true });
      const lease = (await s.out(['job']))!;
      await s.out(['other']);
      expect(await s.in(['job'], { reserve: 600_000 })).not.toBeNull();
      await s.cancel(lease.id);
      await own.cleanup();
      await own.start({ dataDir });
      expect(await (await own.client()).space('kept').rdAll([any])).toEqual([['other']]);
    } finally {
      await own.cleanup();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('batches that take their own tuples (§10.10)', () => {
  test('a failed batch leaves the space exactly as it was, also when an inp took a tuple an out step wrote', async () => {
    await t.start({ maxTuplesPerSpace: 2 });
    const s = (await t.client()).space('rollback');
    const seen = s.notify([any, any]);
    await seen.ready;
    await s.out(['old', 1]);
    await expect(s.batch([{ out: ['new', 1] }, { inp: ['new', 1] }, { inp: ['old', 1] }, { rdp: ['missing', 0] }]))
      .rejects.toMatchObject({ code: 'BATCH_FAILED', details: { step: 3 } });
    expect(await s.rdAll([any, any])).toEqual([['old', 1]]);
    expect(await s.count([any, any])).toBe(1);
    await s.out(['fills', 2]); // one place was left, not zero
    await expect(s.out(['over', 3])).rejects.toMatchObject({ code: 'SPACE_FULL' });
    expect(await s.rdAll([any, any])).toEqual([['old', 1], ['fills', 2]]); // order kept
    expect(await events(seen, 2)).toEqual([['out', ['old', 1]], ['out', ['fills', 2]]]); // nothing from the batch
  });

  test('a tuple written and taken by one batch: out event before in event, and it is gone', async () => {
    const s = (await t.client()).space('own');
    const seen = s.notify([any]);
    await seen.ready;
    await s.out(['a']);
    const results = await s.batch([{ inp: ['a'] }, { out: ['b'] }, { inp: ['b'] }, { out: ['c'] }]);
    expect(results.map((r) => r.tuple)).toEqual([['a'], ['b'], ['b'], ['c']]);
    expect(await events(seen, 5)).toEqual([['out', ['a']], ['in', ['a']], ['out', ['b']], ['in', ['b']], ['out', ['c']]]);
    expect(await s.rdAll([any])).toEqual([['c']]);
    await expect(s.cancel(results[1]!.id)).rejects.toMatchObject({ code: 'UNKNOWN_ID' });
  });
});

describe('frame checks', () => {
  test('out with an ack level but no id is INVALID_FRAME naming id, as for pub', async () => {
    const c = await raw.connect((await t.start()).url, 'msgpack');
    c.send({ t: 'out', space: 'no-id', tuple: ['a'], ack: 'submission' });
    expect(await c.error('INVALID_FRAME')).toMatchObject({ details: { field: 'id' } });
    c.send({ t: 'out', space: 'no-id', tuple: ['b'], ack: 'none' });
    await c.sync();
    expect(await c.call({ t: 'rd', id: c.id(), space: 'no-id', template: [any], limit: 10 })).toMatchObject({ items: [{ tuple: ['b'] }] });
  });

  test('in with both limit and reserve is INVALID_FRAME naming reserve, and takes nothing', async () => {
    const c = await raw.connect((await t.start()).url, 'msgpack');
    await c.call({ t: 'out', id: c.id(), space: 'limit-reserve', tuple: ['a'], ack: 'submission' });
    const answer = await c.call({ t: 'in', id: c.id(), space: 'limit-reserve', template: ['a'], limit: 5, reserve: 1_000 });
    expect(answer).toMatchObject({ t: 'err', code: 'INVALID_FRAME', details: { field: 'reserve' } });
    expect(await c.call({ t: 'rd', id: c.id(), space: 'limit-reserve', template: ['a'], wait: false })).toMatchObject({ tuple: ['a'] });
  });

  test('MESSAGE_TOO_LARGE for a tuple gives bytes and limit, as for pub', async () => {
    await t.start({ maxMessageBytes: 100 });
    const s = (await t.client()).space('big');
    await expect(s.out(['x'.repeat(200)])).rejects.toMatchObject({
      code: 'MESSAGE_TOO_LARGE', details: { bytes: expect.any(Number), limit: 100 },
    });
  });
});
