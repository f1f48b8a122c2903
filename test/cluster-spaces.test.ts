import { testCluster } from './helpers/cluster.js';
import { clusterRedis } from './helpers/cluster-redis.js';
import { take, until } from './helpers/setup.js';

// Three brokers on one Redis, in this process: a tuple crosses nodes only through Redis.
const shared = clusterRedis();
const t = testCluster();

describe('cluster tuple spaces', () => {
  // One cluster for the file (three starts on Redis per test were most of its time): each test
  // uses spaces of its own, and the test that restarts Redis comes last. Inside the describe, so
  // the brokers close before the file's Redis does.
  beforeAll(() => t.start(shared.server.url, 3));
  afterEach(() => t.closeClients());
  afterAll(() => t.cleanup());

  test('a tuple written on one node is read, counted and taken on the others, oldest first, any codec', async () => {
    const [a, b, c] = await Promise.all([t.client(0), t.client(1, { codec: 'json' }), t.client(2)]);
    const lease = await a.space('shared').out(['job', 1, new Uint8Array([7])], { headers: { from: 'a' } });
    await a.space('shared').out(['job', 2, new Uint8Array([8])]);
    await a.space('shared').out(['other', 'x']);
    expect(await b.space('shared').rdp(['job', { $type: 'integer' }, { $any: true }])).toEqual(['job', 1, new Uint8Array([7])]);
    expect(await c.space('shared').count(['job', { $range: { gte: 1, lte: 2 } }, { $type: 'binary' }])).toBe(2);
    expect(await c.space('shared').count([{ $regex: '^oth' }, { $in: ['x', 'y'] }])).toBe(1);
    const entry = await c.space('shared').inp(['job', { $any: true }, { $any: true }], { entry: true });
    expect(entry).toMatchObject({ id: lease!.id, tuple: ['job', 1, new Uint8Array([7])], headers: { from: 'a' } });
    expect(await b.space('shared').inp(['job', { $any: true }, { $any: true }])).toEqual(['job', 2, new Uint8Array([8])]);
    expect(await a.space('shared').inp(['job', { $any: true }, { $any: true }])).toBeNull();
    expect(await a.space('shared').rdAll([{ $any: true }, { $any: true }])).toEqual([['other', 'x']]);
    expect(await b.space('shared').inAll([{ $any: true }, { $any: true }])).toEqual([['other', 'x']]);
    expect(await c.space('shared').count([{ $any: true }, { $any: true }])).toBe(0);
  });

  test('reads look up actual values in an equality index, page past the first 256 and drop the entries of tuples gone', async () => {
    const [a, b, c] = await Promise.all([t.client(0), t.client(1), t.client(2)]);
    const n = 300;
    for (let i = 0; i < n; i++) void a.space('eqidx').out(['item', i, 'x'], { ack: 'none' });
    await a.space('eqidx').out(['other', 0, 'y']);
    const indexed = async () => (await shared.inspect.keys('{ls:eqidx}:e:3:1:*')).length;
    expect(await indexed()).toBe(n); // position 1: one value each ('other' shares 0)
    expect(await b.space('eqidx').inp(['item', n - 1, { $any: true }])).toEqual(['item', n - 1, 'x']);
    expect(await c.space('eqidx').rdp(['item', n - 1, 'x'])).toBeNull(); // meets the stale entry and drops it
    expect(await indexed()).toBe(n - 1);
    expect(await c.space('eqidx').count(['item', { $any: true }, 'x'])).toBe(n - 1);
    expect(await c.space('eqidx').count([{ $any: true }, 0, { $any: true }])).toBe(2);
    expect(await b.space('eqidx').rdAll(['item', { $range: { gte: 290 } }, { $type: 'string' }])).toHaveLength(9);
  });

  test('two nodes racing inp for one tuple: exactly one gets it', async () => {
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    for (let round = 0; round < 20; round++) {
      await a.space('race').out(['prize', round]);
      const got = await Promise.all([a.space('race').inp(['prize', round]), b.space('race').inp(['prize', round])]);
      expect(got.filter((x) => x !== null)).toEqual([['prize', round]]);
    }
  });

  test('many concurrent ins across three nodes take each of N tuples exactly once', async () => {
    const clients = await Promise.all([t.client(0), t.client(1), t.client(2)]);
    const n = 150;
    const taken: number[] = [];
    // Blocking ins on every node, one per tuple; half the tuples written before, half after, on all nodes.
    const writer = clients[0]!.space('work');
    for (let i = 0; i < n / 2; i++) void writer.out(['task', i], { ack: 'none' });
    await clients[0]!.flush();
    const takers = Array.from({ length: n }, (_, i) => clients[i % 3]!.space('work').in<[string, number]>(['task', { $any: true }]));
    for (let i = n / 2; i < n; i++) void clients[(i % 2) + 1]!.space('work').out(['task', i], { ack: 'none' });
    for (const got of await Promise.all(takers)) if (got) taken.push(got[1]);
    expect(taken.sort((x, y) => x - y)).toEqual([...Array(n).keys()]); // none lost, none twice
    expect(await clients[1]!.space('work').count(['task', { $any: true }])).toBe(0);
  });

  test('a blocked in on one node is woken by an out on another; blocked waiters on several nodes are served in arrival order', async () => {
    const [a, b, c] = await Promise.all([t.client(0), t.client(1), t.client(2)]);
    const w1 = a.space('wake').in<[string, number]>(['task', { $type: 'integer' }]);
    await shared.waitersFiled('wake', 2, 1);
    const w2 = b.space('wake').in<[string, number]>(['task', { $any: true }]);
    await shared.waitersFiled('wake', 2, 2);
    const w3 = c.space('wake').in<[string, number]>(['task', { $any: true }]);
    await shared.waitersFiled('wake', 2, 3);
    const w4 = a.space('wake').in<[string, number]>(['task', { $any: true }]);
    await shared.waitersFiled('wake', 2, 4);
    await c.space('wake').out(['task', 'not an integer']); // w1 does not match: the next oldest, w2, takes it
    await b.space('wake').out(['task', 1]);
    await c.space('wake').out(['task', 2]);
    await a.space('wake').out(['task', 3]);
    expect(await Promise.all([w1, w2, w3, w4])).toEqual([['task', 1], ['task', 'not an integer'], ['task', 2], ['task', 3]]);
    expect(await b.space('wake').count(['task', { $any: true }])).toBe(0);
  });

  test('blocked rd on two nodes both get a copy; the blocked in takes it', async () => {
    const [a, b, c] = await Promise.all([t.client(0), t.client(1), t.client(2)]);
    // The in is filed first: rd waiters filed after it get their copies all the same.
    const taking = c.space('copies').in(['news', { $any: true }]);
    await shared.waitersFiled('copies', 2, 1);
    const reads = [a.space('copies').rd(['news', { $any: true }]), b.space('copies').rd(['news', { $any: true }])];
    await shared.waitersFiled('copies', 2, 3);
    await c.space('copies').out(['news', 'hello']);
    expect(await Promise.all(reads)).toEqual([['news', 'hello'], ['news', 'hello']]);
    expect(await taking).toEqual(['news', 'hello']);
    expect(await a.space('copies').rdp(['news', { $any: true }])).toBeNull();
  });

  test('a waiter that timed out or whose client left is skipped: the tuple goes to the next or stays', async () => {
    const [a, b, c] = await Promise.all([t.client(0), t.client(1), t.client(2)]);
    expect(await a.space('gone').in(['x'], { timeout: 50 })).toBeNull();
    const leaving = b.space('gone').in(['x']);
    leaving.catch(() => undefined);
    await shared.waitersFiled('gone', 1, 1);
    await b.close();
    await shared.waitersFiled('gone', 1, 0);
    await c.space('gone').out(['x']);
    expect(await a.space('gone').inp(['x'])).toEqual(['x']);
  });

  test('a tuple with a lease disappears on every node once it ends; renew and cancel work from any node', async () => {
    const [a, b, c] = await Promise.all([t.client(0), t.client(1), t.client(2)]);
    const lease = await a.space('leases').out(['temp'], { ttl: 150 });
    await a.space('leases').out(['kept']);
    const renewed = await a.space('leases').out(['renewed'], { ttl: 150 });
    const cancelled = await a.space('leases').out(['cancelled'], { ttl: 60_000 });
    expect(lease!.expiresAt).toBeGreaterThan(Date.now());
    expect(await b.space('leases').rdp(['temp'])).toEqual(['temp']);
    expect((await c.space('leases').renew(renewed!.id, 60_000)).expiresAt).toBeGreaterThan(renewed!.expiresAt!);
    await b.space('leases').cancel(cancelled!.id);
    await expect(c.space('leases').cancel(cancelled!.id)).rejects.toMatchObject({ code: 'UNKNOWN_ID' });
    await until(() => Date.now() > lease!.expiresAt!);
    expect(await b.space('leases').rdp(['temp'])).toBeNull();
    expect(await c.space('leases').inp(['temp'])).toBeNull();
    await expect(b.space('leases').renew(lease!.id, 1_000)).rejects.toMatchObject({ code: 'UNKNOWN_ID' });
    expect(await a.space('leases').rdAll([{ $any: true }])).toEqual([['kept'], ['renewed']]);
  });

  test('notify subscriptions on two nodes see the outs, takes and ends of every node, in the order Redis ran them', async () => {
    const [a, b, c] = await Promise.all([t.client(0), t.client(1), t.client(2)]);
    const everything = a.space('watched').notify<[string, number]>(['job', { $any: true }]);
    const ends = b.space('watched').notify<[string, number]>(['job', { $any: true }], { events: ['expire'] });
    await Promise.all([everything.ready, ends.ready]);
    const first = await c.space('watched').out(['job', 1]);
    await c.space('watched').out(['other', 1]); // no match
    expect(await b.space('watched').inp(['job', 1])).toEqual(['job', 1]);
    const second = await b.space('watched').out(['job', 2], { ttl: 60_000 });
    await a.space('watched').cancel(second!.id);
    const taking = b.space('watched').in(['job', 3]);
    await shared.waitersFiled('watched', 2, 1);
    await c.space('watched').out(['job', 3]); // handed to the waiting in
    expect(await taking).toEqual(['job', 3]);
    await c.space('watched').out(['job', 4], { ttl: 100 }); // nobody reads it: the lease's end is announced all the same
    const seen = (await take(everything, 8)).map((e) => [e.seq, e.type, e.tuple[1], e.id]);
    expect(seen).toEqual([
      [1, 'out', 1, first!.id], [2, 'in', 1, first!.id], [3, 'out', 2, second!.id], [4, 'expire', 2, second!.id],
      [5, 'out', 3, expect.any(String)], [6, 'in', 3, expect.any(String)], [7, 'out', 4, expect.any(String)], [8, 'expire', 4, expect.any(String)],
    ]);
    expect((await take(ends, 2)).map((e) => [e.seq, e.type, e.tuple])).toEqual([[1, 'expire', ['job', 2]], [2, 'expire', ['job', 4]]]);
    everything.return?.();
    ends.return?.();
  });

  test('tuples live in Redis: written on one node, they survive a Redis restart and are taken on another', async () => {
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    await a.space('kept').out(['order', 1]);
    await a.space('kept', { persistent: true }).out(['order', 2]); // accepted; every tuple is in Redis either way
    await shared.server.kill(); // AOF always: what was answered is on disk
    await shared.server.restart();
    let got: unknown[] = [];
    await until(() => got.length === 2, 10_000, async () => {
      // While the node reconnects its requests may fail; none is answered wrongly.
      got = await b.space('kept').rdAll(['order', { $any: true }]).catch(() => got);
    });
    expect(got).toEqual([['order', 1], ['order', 2]]);
    expect(await b.space('kept').inAll(['order', { $any: true }])).toEqual([['order', 1], ['order', 2]]);
  });
});
