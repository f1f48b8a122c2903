import type { TupleEvent } from '../client-sdk/index.js';
import { take } from './helpers/setup.js';
import { sharedTestBroker } from './helpers/shared-brokers.js';

// One broker per set of options for the file (a start per test was most of its time): each test
// uses names of its own and begins once the last test's clients are gone.
const t = sharedTestBroker();
afterEach(() => t.cleanup());

describe('matching over the wire', () => {
  for (const codec of ['msgpack', 'json'] as const) {
    test(`${codec}: actual values, null, numeric equality, key order, binary and operators`, async () => {
      const c = await t.client({ codec });
      const s = c.space(`match-${codec}`);
      await s.out(['a', null, 1.0, { x: 1, y: [2] }, new Uint8Array([9])]);
      await s.out(['b', 0, 2.5, { y: [2], x: 1 }, 'text']);
      expect(await s.rdp(['a', null, 1, { y: [2], x: 1 }, new Uint8Array([9])])).not.toBeNull();
      expect(await s.rdp([{ $any: true }, null, { $any: true }, { $any: true }, { $any: true }])).toEqual([
        'a', null, 1, { x: 1, y: [2] }, expect.anything(),
      ]);
      expect(await s.count([{ $any: true }, { $type: 'number' }, { $any: true }, { $any: true }, { $any: true }])).toBe(1);
      expect(await s.count([{ $in: ['a', 'b'] }, { $any: true }, { $range: { gte: 1, lt: 3 } }, { x: 1, y: [2] }, { $any: true }])).toBe(2);
      expect(await s.count([{ $regex: '^b$' }, 0, { $type: 'number' }, { $any: true }, { $type: 'string' }])).toBe(1);
      // binary only equals binary: an array of the same numbers does not match
      expect(await s.rdp(['a', null, 1, { x: 1, y: [2] }, [9]])).toBeNull();
    });
  }

  test('$eq matches a literal object with $ keys, which a plain template would read as an operator', async () => {
    const s = (await t.client()).space('eq');
    await s.out([{ $weird: 1 }]);
    await s.out([{ price: 5 }]);
    expect(await s.rdp([{ $eq: { $weird: 1 } }])).toEqual([{ $weird: 1 }]);
    expect(await s.rdp([{ $eq: { price: 5 } }])).toEqual([{ price: 5 }]);
    await expect(s.rdp([{ $weird: 1 }])).rejects.toMatchObject({ code: 'INVALID_TEMPLATE' });
  });

  test('bad templates and tuples are answered with typed errors naming the field', async () => {
    const s = (await t.client()).space('bad');
    await expect(s.rdp(['a', { $nope: 1 }])).rejects.toMatchObject({ code: 'INVALID_TEMPLATE', details: expect.objectContaining({ field: '1' }) });
    await expect(s.rdp([{ $regex: '(a)\\1' }])).rejects.toMatchObject({ code: 'INVALID_TEMPLATE' });
    await expect(s.rdp([{ $range: {} }])).rejects.toMatchObject({ code: 'INVALID_TEMPLATE' });
    await expect(s.out([])).rejects.toMatchObject({ code: 'INVALID_FRAME' });
    await expect(s.out(['ok', [1, new Date(0)]])).rejects.toMatchObject({ code: 'INVALID_TUPLE', details: expect.objectContaining({ field: '1.1' }) });
  });
});

describe('take and read', () => {
  test('the oldest matching tuple is taken first', async () => {
    const s = (await t.client()).space('fifo');
    for (let i = 0; i < 5; i++) await s.out(['job', i]);
    await s.out(['other', 99]);
    const taken = [];
    for (let i = 0; i < 5; i++) taken.push(await s.inp(['job', { $any: true }]));
    expect(taken).toEqual([0, 1, 2, 3, 4].map((i) => ['job', i]));
    expect(await s.inp(['job', { $any: true }])).toBeNull();
    expect(await s.rdp(['other', 99])).toEqual(['other', 99]);
  });

  test('a blocking in is woken by an out from another client; waiters are served in arrival order', async () => {
    const a = await t.client();
    const b = await t.client();
    const w1 = a.space('wake').in<[string, number]>(['task', { $type: 'integer' }]);
    await a.flush();
    const w2 = b.space('wake').in<[string, number]>(['task', { $any: true }]);
    await b.flush();
    const writer = (await t.client()).space('wake');
    await writer.out(['task', 1]);
    await writer.out(['task', 2]);
    expect(await w1).toEqual(['task', 1]);
    expect(await w2).toEqual(['task', 2]);
    expect(await writer.count(['task', { $any: true }])).toBe(0); // handed over, never stored
  });

  test('every waiting rd gets a copy and the waiting in takes it', async () => {
    const readers = await Promise.all([t.client(), t.client()]);
    const rds = readers.map((c) => c.space('copies').rd(['news', { $any: true }]));
    const taker = await t.client();
    const taking = taker.space('copies').in(['news', { $any: true }]);
    await Promise.all([...readers, taker].map((c) => c.flush()));
    const writer = (await t.client()).space('copies');
    await writer.out(['news', 'hello']);
    expect(await Promise.all(rds)).toEqual([['news', 'hello'], ['news', 'hello']]);
    expect(await taking).toEqual(['news', 'hello']);
    expect(await writer.rdp(['news', { $any: true }])).toBeNull();
  });

  test('timeouts resolve null; inp/rdp never wait', async () => {
    const s = (await t.client()).space('timeouts');
    expect(await s.in(['nothing'], { timeout: 50 })).toBeNull();
    expect(await s.rd(['nothing'], { timeout: 50 })).toBeNull();
    expect(await s.inp(['nothing'])).toBeNull();
    expect(await s.rdp(['nothing'])).toBeNull();
  });

  test('an AbortSignal ends a wait, and the tuple written afterwards stays in the space', async () => {
    const c = await t.client();
    const s = c.space('abort');
    const controller = new AbortController();
    const waiting = s.in(['x'], { signal: controller.signal });
    await c.flush();
    controller.abort();
    expect(await waiting).toBeNull();
    await s.out(['x']);
    expect(await s.count(['x'])).toBe(1);
  });

  test('a waiter that disconnects does not swallow the tuple', async () => {
    const leaving = await t.client();
    void leaving.space('vanish').in(['gift']).catch(() => {});
    await leaving.flush();
    await leaving.close();
    const s = (await t.client()).space('vanish');
    await s.out(['gift']);
    expect(await s.rdp(['gift'])).toEqual(['gift']);
  });

  test('inAll, rdAll and count', async () => {
    const s = (await t.client()).space('all');
    for (let i = 0; i < 10; i++) await s.out(['n', i]);
    expect(await s.count(['n', { $range: { gte: 5 } }])).toBe(5);
    expect(await s.rdAll(['n', { $any: true }], { limit: 3 })).toEqual([['n', 0], ['n', 1], ['n', 2]]);
    expect(await s.inAll(['n', { $range: { lt: 4 } }])).toEqual([0, 1, 2, 3].map((i) => ['n', i]));
    expect(await s.count(['n', { $any: true }])).toBe(6);
  });
});

describe('leases', () => {
  test('an expired tuple is invisible at once and gone; renew extends, cancel ends', async () => {
    const s = (await t.client()).space('leases');
    const expiries = s.notify(['short'], { events: ['expire'] });
    await expiries.ready;
    const short = await s.out(['short'], { ttl: 30 });
    expect(short).toMatchObject({ ttl: 30, shortened: false });
    expect(short!.expiresAt).toBeGreaterThan(Date.now() - 1000);
    // Long enough that no machine is slow enough to lose it before the renew.
    const kept = await s.out(['kept'], { ttl: 60_000 });
    const renewed = await s.renew(kept!.id, 120_000);
    expect(renewed.expiresAt!).toBeGreaterThan(kept!.expiresAt!);
    const gone = await s.out(['cancelled'], { ttl: 60_000 });
    await s.cancel(gone!.id);
    expect(await s.rdp(['cancelled'])).toBeNull();
    expect((await take(expiries, 1))[0]).toMatchObject({ type: 'expire', tuple: ['short'] });
    expect(await s.rdp(['short'])).toBeNull();
    expect(await s.rdp(['kept'])).toEqual(['kept']);
    await expect(s.renew(short!.id, 1000)).rejects.toMatchObject({ code: 'UNKNOWN_ID' });
  });

  test('the broker shortens a lease beyond maxLeaseMs and says so', async () => {
    await t.start({ maxLeaseMs: 1_000 });
    const lease = await (await t.client()).space('cap').out(['x'], { ttl: 60_000 });
    expect(lease).toMatchObject({ ttl: 1_000, shortened: true });
  });
});

describe('notify', () => {
  test('out, in and expire events arrive in order with sequence numbers', async () => {
    const watcher = await t.client({ codec: 'json' });
    const events = watcher.space('watched').notify<[string, number]>(['job', { $any: true }]);
    await events.ready;
    const s = (await t.client()).space('watched');
    await s.out(['job', 1]);
    await s.out(['other', 1]); // not matching
    await s.inp(['job', 1]);
    await s.out(['job', 2], { ttl: 20 });
    const got: TupleEvent<[string, number]>[] = await take(events, 4);
    expect(got.map((e) => [e.type, e.seq, e.tuple])).toEqual([
      ['out', 1, ['job', 1]], ['in', 2, ['job', 1]], ['out', 3, ['job', 2]], ['expire', 4, ['job', 2]],
    ]);
  });
});

describe('batch', () => {
  test('compare-and-swap: all steps or none', async () => {
    const s = (await t.client()).space('cas');
    await s.out(['counter', 1]);
    const results = await s.batch([{ inp: ['counter', 1] }, { out: ['counter', 2] }]);
    expect(results.map((r) => r.tuple)).toEqual([['counter', 1], ['counter', 2]]);

    await expect(s.batch([{ inp: ['counter', 2] }, { out: ['counter', 3] }, { rdp: ['missing'] }]))
      .rejects.toMatchObject({ code: 'BATCH_FAILED', details: { step: 2 } });
    expect(await s.rdAll(['counter', { $any: true }])).toEqual([['counter', 2]]);
  });

  test('a batch out wakes a waiting in only after it committed', async () => {
    const c = await t.client();
    const waiting = c.space('bw').in(['done']);
    await c.flush();
    const s = (await t.client()).space('bw');
    await s.out(['token']);
    await s.batch([{ inp: ['token'] }, { out: ['done'] }]);
    expect(await waiting).toEqual(['done']);
  });
});

describe('reservations (at-least-once takes)', () => {
  test('ack removes the tuple; nack puts it back at its original position', async () => {
    const s = (await t.client()).space('res');
    await s.out(['w', 1]);
    await s.out(['w', 2]);
    const first = await s.in<[string, number]>(['w', { $any: true }], { reserve: 60_000 });
    expect(first!.tuple).toEqual(['w', 1]);
    expect(await s.count(['w', { $any: true }])).toBe(1); // reserved: out of sight
    await first!.nack();
    expect(await s.rdp(['w', { $any: true }])).toEqual(['w', 1]); // back first, oldest
    const again = await s.in<[string, number]>(['w', { $any: true }], { reserve: 60_000 });
    await again!.ack();
    expect(await s.rdAll(['w', { $any: true }])).toEqual([['w', 2]]);
    await expect(again!.ack()).rejects.toMatchObject({ code: 'UNKNOWN_ID' });
  });

  test('a reservation that expires or whose holder disconnects returns the tuple', async () => {
    const holder = await t.client();
    const s = holder.space('res2');
    await s.out(['a']);
    await s.out(['b']);
    expect(await s.in(['a'], { reserve: 30 })).not.toBeNull();
    expect(await s.in(['b'], { reserve: 60_000 })).not.toBeNull();
    const other = (await t.client()).space('res2');
    expect(await other.in(['a'], { timeout: 5_000 })).toEqual(['a']); // back after 30 ms
    await holder.close();
    expect(await other.in(['b'], { timeout: 5_000 })).toEqual(['b']);
  });
});

describe('out with ack delivery and processing', () => {
  test('delivery resolves when an in takes the tuple, processing when the taker is done', async () => {
    const writer = (await t.client()).space('sync');
    const taker = (await t.client()).space('sync');
    const delivered = writer.out(['job', 1], { ack: 'delivery' });
    const processed = writer.out(['job', 2], { ack: 'processing' });
    const first = await taker.in(['job', 1], { reserve: 60_000 });
    expect(await delivered).toMatchObject({ stage: 'delivery', reached: true, timedOut: false });
    const second = await taker.in<[string, number]>(['job', 2], { reserve: 60_000 });
    await second!.nack(); // back in the space: not processed yet
    const again = await taker.in(['job', 2], { reserve: 60_000 });
    let settled = false;
    void processed.then(() => { settled = true; });
    await taker.count(['job', 2]); // a round trip after the reservation: still waiting
    expect(settled).toBe(false);
    await again!.ack();
    expect(await processed).toMatchObject({ stage: 'processing', reached: true, timedOut: false });
    await first!.ack();
  });

  test('a waiting taker is served inside out; a tuple that expires or times out says so', async () => {
    const writer = (await t.client()).space('sync2');
    const taker = (await t.client()).space('sync2');
    const taking = taker.in(['now']);
    await taker.count(['now']); // the in is registered
    expect(await writer.out(['now'], { ack: 'processing' })).toMatchObject({ reached: true });
    expect(await taking).toEqual(['now']);
    expect(await writer.out(['short'], { ack: 'delivery', ttl: 20 })).toMatchObject({ reached: false, timedOut: false });
    expect(await writer.out(['nobody'], { ack: 'delivery', timeout: 20 })).toMatchObject({ reached: false, timedOut: true });
    expect(await writer.rdp(['nobody'])).toEqual(['nobody']); // the tuple itself stays
  });
});

describe('limits', () => {
  test('SPACE_FULL and TOO_MANY_WAITERS, and what was accepted is kept', async () => {
    await t.start({ maxTuplesPerSpace: 2, maxWaitersPerConnection: 1 });
    const c = await t.client();
    const s = c.space('small');
    await s.out([1]);
    await s.out([2]);
    await expect(s.out([3])).rejects.toMatchObject({ code: 'SPACE_FULL' });
    expect(await s.count([{ $any: true }])).toBe(2);
    void s.in(['never']).catch(() => {});
    await expect(s.in(['never either'])).rejects.toMatchObject({ code: 'TOO_MANY_WAITERS' });
  });
});
