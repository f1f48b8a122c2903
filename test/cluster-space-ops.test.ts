import { testCluster } from './helpers/cluster.js';
import { clusterRedis } from './helpers/cluster-redis.js';
import { take, until } from './helpers/setup.js';

// out with ack delivery/processing and batch, with writer and takers on different nodes of one Redis.
const shared = clusterRedis();
const t = testCluster();

const start = () => t.start(shared.server.url, 2, { maxTuplesPerSpace: 50 });

/** One cluster for a describe's tests (two starts on Redis per test were most of the file's time): each uses spaces of its own. */
function clusterPerDescribe(): void {
  beforeAll(start);
  afterEach(() => t.closeClients());
  afterAll(() => t.cleanup());
}

/** A cluster for each test: for tests that stop a node. */
function clusterPerTest(): void {
  beforeEach(start);
  afterEach(() => t.cleanup());
}

/** Resolves once `check` answers true (asked again every few ms). */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  let ok = false;
  await until(() => ok, 5_000, async () => { ok = await check(); });
}

describe('cluster out with ack delivery and processing', () => {
  clusterPerDescribe();

  test('a later in on another node: delivery at its reservation, processing at its ack, not at a nack', async () => {
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    const writer = a.space('sync');
    const taker = b.space('sync');
    const delivered = writer.out(['job', 1], { ack: 'delivery' });
    const processed = writer.out(['job', 2], { ack: 'processing' });
    await eventually(async () => (await taker.count(['job', { $any: true }])) === 2);
    const first = await taker.in(['job', 1], { reserve: 60_000 });
    expect(await delivered).toMatchObject({ stage: 'delivery', reached: true, timedOut: false });
    const second = await taker.in<[string, number]>(['job', 2], { reserve: 60_000 });
    await second!.nack(); // back in the space: not processed yet
    const again = await taker.in(['job', 2], { reserve: 60_000 });
    let settled = false;
    void processed.then(() => { settled = true; });
    await writer.count(['job', 2]); // a round trip on the writer's node after the reservation: still waiting
    expect(settled).toBe(false);
    await again!.ack();
    const lease = await processed;
    expect(lease).toMatchObject({ stage: 'processing', reached: true, timedOut: false });
    expect(lease!.id).toBe(second!.id);
    await first!.ack();
  });

  test('a waiting in on another node is handed the tuple; a plain inp there counts as processing', async () => {
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    const taking = b.space('sync2').in(['now']);
    await shared.waitersFiled('sync2', 1, 1);
    expect(await a.space('sync2').out(['now'], { ack: 'processing' })).toMatchObject({ stage: 'processing', reached: true, timedOut: false });
    expect(await taking).toEqual(['now']);
    const later = a.space('sync2').out(['later'], { ack: 'delivery' });
    await eventually(async () => (await b.space('sync2').inp(['later'])) !== null);
    expect(await later).toMatchObject({ stage: 'delivery', reached: true, timedOut: false });
    // Reading never counts: the writer times out, and the tuple stays.
    const read = a.space('sync2').out(['read'], { ack: 'delivery', timeout: 300 });
    await eventually(async () => (await b.space('sync2').rdp(['read'])) !== null);
    expect(await read).toMatchObject({ reached: false, timedOut: true });
    expect(await b.space('sync2').rdp(['read'])).toEqual(['read']);
  });

  test("through the claim's hand-off: a waiting in's node answers the writer and ends the claim; a waiting rd's copy never counts", async () => {
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    // A plain waiting in: processing once its node served it, the hand-off's claim ended in Redis.
    const plain = b.space('handoff').in(['plain']);
    await shared.waitersFiled('handoff', 1, 1);
    expect(await a.space('handoff').out(['plain'], { ack: 'processing' })).toMatchObject({ stage: 'processing', reached: true, timedOut: false });
    expect(await plain).toEqual(['plain']);
    await eventually(async () => (await shared.inspect.hlen('{ls:handoff}:r')) === 0 && (await shared.inspect.zcard('{linden}:reservations')) === 0);
    expect(await shared.inspect.hlen('{ls:handoff}:t')).toBe(0);
    expect(await shared.inspect.zcard('{linden}:offers')).toBe(0);
    // A reserving waiting in: handed over under its reservation, processing only at its ack.
    const reserving = b.space('handoff').in(['held'], { reserve: 60_000 });
    await shared.waitersFiled('handoff', 1, 1);
    const processed = a.space('handoff').out(['held'], { ack: 'processing' });
    const r = (await reserving)!;
    expect(r.tuple).toEqual(['held']);
    let settled = false;
    void processed.then(() => { settled = true; });
    await a.space('handoff').count(['held']); // a round trip on the writer's node after the hand-over: still waiting
    expect(settled).toBe(false);
    await r.ack();
    expect(await processed).toMatchObject({ stage: 'processing', reached: true, timedOut: false });
    // A waiting rd gets its copy (SPACE_COPY), which is no delivery: the writer times out, the tuple stays.
    const reading = b.space('handoff').rd(['copy']);
    await shared.waitersFiled('handoff', 1, 1);
    const copied = a.space('handoff').out(['copy'], { ack: 'delivery', timeout: 300 });
    expect(await reading).toEqual(['copy']);
    expect(await copied).toMatchObject({ reached: false, timedOut: true });
    expect(await b.space('handoff').rdp(['copy'])).toEqual(['copy']);
  });

  test('a tuple that expires, is cancelled on another node or is never taken says so', async () => {
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    expect(await a.space('sync3').out(['short'], { ack: 'delivery', ttl: 50 })).toMatchObject({ reached: false, timedOut: false });
    const cancelled = a.space('sync3').out(['gone'], { ack: 'processing', ttl: 60_000 });
    let tid: string | undefined;
    await eventually(async () => (tid = (await b.space('sync3').rdp(['gone'], { entry: true }))?.id) !== undefined);
    await b.space('sync3').cancel(tid!);
    expect(await cancelled).toMatchObject({ reached: false, timedOut: false });
    expect(await a.space('sync3').out(['nobody'], { ack: 'delivery', timeout: 50 })).toMatchObject({ reached: false, timedOut: true });
    expect(await b.space('sync3').rdp(['nobody'])).toEqual(['nobody']); // the tuple itself stays
    // A renewed lease keeps the writer waiting until a taker comes.
    const renewed = a.space('sync3').out(['renewed'], { ack: 'processing', ttl: 200 });
    await eventually(async () => (tid = (await b.space('sync3').rdp(['renewed'], { entry: true }))?.id) !== undefined);
    await b.space('sync3').renew(tid!, 60_000);
    let settled = false;
    void renewed.then(() => { settled = true; });
    const firstEnd = Date.now() + 200;
    await until(() => Date.now() > firstEnd + 100); // past the lease end the writer knew of
    await a.space('sync3').count(['renewed']); // a round trip on the writer's node
    expect(settled).toBe(false);
    expect(await b.space('sync3').inp(['renewed'])).toEqual(['renewed']);
    expect(await renewed).toMatchObject({ reached: true, timedOut: false });
  });
});

describe('cluster out with ack: nodes that go', () => {
  clusterPerTest();

  test("a reservation put back by its node's stop is taken on another node, which answers the writer", async () => {
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    const processed = a.space('nodes').out(['job'], { ack: 'processing' });
    await eventually(async () => (await a.space('nodes').count(['job'])) === 1);
    expect(await b.space('nodes').in(['job'], { reserve: 60_000 })).toMatchObject({ tuple: ['job'] });
    const [leaving] = t.brokers.splice(1, 1);
    await leaving!.close(); // its reservations end: the tuple goes back
    expect(await a.space('nodes').in(['job'], { timeout: 5_000 })).toEqual(['job']);
    expect(await processed).toMatchObject({ stage: 'processing', reached: true, timedOut: false });
  });

  test("a watched tuple whose writer's node is gone is still taken as any other", async () => {
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    void a.space('orphan').out(['job'], { ack: 'delivery', timeout: 60_000 }).catch(() => undefined);
    await eventually(async () => (await b.space('orphan').count(['job'])) === 1);
    const [leaving] = t.brokers.splice(0, 1);
    await leaving!.close();
    expect(await b.space('orphan').inp(['job'])).toEqual(['job']);
    expect(await b.space('orphan').count(['job'])).toBe(0);
  });
});

describe('cluster batch', () => {
  clusterPerDescribe();

  test('steps see the earlier ones; a failing step leaves the space unchanged; limits as on one node', async () => {
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    const s = a.space('cas');
    await b.space('cas').out(['counter', 1]);
    const results = await s.batch([{ rdp: ['counter', { $any: true }] }, { inp: ['counter', 1] }, { out: ['counter', 2] }, { rdp: ['counter', { $any: true }] }]);
    expect(results.map((r) => r.tuple)).toEqual([['counter', 1], ['counter', 1], ['counter', 2], ['counter', 2]]);
    expect(results[3]!.id).toBe(results[2]!.id);
    await expect(s.batch([{ inp: ['counter', 2] }, { out: ['counter', 3] }, { rdp: ['missing'] }]))
      .rejects.toMatchObject({ code: 'BATCH_FAILED', details: { step: 2 } });
    expect(await b.space('cas').rdAll(['counter', { $any: true }])).toEqual([['counter', 2]]);
    // An out taken by a later step is never stored; the tuples in Redis are older than the batch's own.
    await b.space('cas').out(['job', 'old']);
    const own = await s.batch([{ out: ['job', 'new'] }, { inp: ['job', { $any: true }] }, { inp: ['job', { $any: true }] }]);
    expect(own.map((r) => r.tuple)).toEqual([['job', 'new'], ['job', 'old'], ['job', 'new']]);
    expect(await b.space('cas').count(['job', { $any: true }])).toBe(0);
    // A reserved tuple is out of sight; notify subscribers on another node see the steps' events in step order.
    const events = b.space('cas').notify<unknown[]>([{ $any: true }, { $any: true }]);
    await events.ready;
    const held = await b.space('cas').in(['counter', 2], { reserve: 60_000 });
    await expect(s.batch([{ rdp: ['counter', { $any: true }] }])).rejects.toMatchObject({ code: 'BATCH_FAILED', details: { step: 0 } });
    await held!.nack();
    await s.batch([{ out: ['e', 1] }, { inp: ['counter', 2] }, { inp: ['e', 1] }, { out: ['e', 2] }]);
    expect((await take(events, 4)).map((e) => [e.type, e.tuple])).toEqual([['out', ['e', 1]], ['in', ['counter', 2]], ['in', ['e', 1]], ['out', ['e', 2]]]);
    events.return?.();
    await expect(s.batch([{ inp: [{ $bad: 1 }] }])).rejects.toMatchObject({ code: 'INVALID_TEMPLATE', details: { step: 0 } });
  });

  test('concurrent batches and ins on two nodes take each tuple once, batches all or nothing', async () => {
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    const n = 40;
    for (let i = 0; i < n; i++) await a.space('pairs').out(['item', i]);
    const single: number[] = [];
    const taker = async () => {
      for (let got = await b.space('pairs').inp<[string, number]>(['item', { $any: true }]); got; got = await b.space('pairs').inp<[string, number]>(['item', { $any: true }])) {
        single.push(got[1]);
      }
    };
    // Each batch takes two items and writes a receipt: a batch that took only one would leave a receipt short.
    const run = async (space: ReturnType<typeof a.space>, who: string) => {
      const got: number[] = [];
      for (;;) {
        try {
          const r = await space.batch([{ inp: ['item', { $any: true }] }, { inp: ['item', { $any: true }] }, { out: ['pair', who] }]);
          got.push(r[0]!.tuple[1] as number, r[1]!.tuple[1] as number);
        } catch (err) {
          if ((err as { code?: string }).code !== 'BATCH_FAILED') throw err;
          return got;
        }
      }
    };
    const [fromA, fromB] = await Promise.all([run(a.space('pairs'), 'a'), run(b.space('pairs'), 'b'), taker()]);
    const all = [...fromA!, ...fromB!, ...single].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(await a.space('pairs').count(['pair', { $any: true }])).toBe((fromA!.length + fromB!.length) / 2);
    expect(await b.space('pairs').count(['item', { $any: true }])).toBe(0);
  });

  test('a batch out wakes a waiter on another node; the space limit counts every out step', async () => {
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    const waiting = b.space('wake').in(['done', { $any: true }]);
    const reading = b.space('wake').rd(['done', { $any: true }]);
    await shared.waitersFiled('wake', 2, 2);
    await a.space('wake').out(['token']);
    const results = await a.space('wake').batch([{ inp: ['token'] }, { out: ['done', 1] }]);
    expect(await waiting).toEqual(['done', 1]);
    expect(await reading).toEqual(['done', 1]);
    expect(results[1]!.tuple).toEqual(['done', 1]);
    expect(await a.space('wake').count(['done', { $any: true }])).toBe(0); // the waiting in took it
    const watched = a.space('wake').out(['watched'], { ack: 'processing' });
    await eventually(async () => (await b.space('wake').count(['watched'])) === 1);
    await b.space('wake').batch([{ inp: ['watched'] }]);
    expect(await watched).toMatchObject({ reached: true, timedOut: false });
    for (let i = 0; i < 49; i++) void a.space('full').out(['x', i], { ack: 'none' });
    await a.space('full').out(['x', 49]);
    await expect(a.space('full').batch([{ inp: ['x', 0] }, { out: ['y'] }])).rejects.toMatchObject({ code: 'SPACE_FULL' });
    expect(await b.space('full').count(['x', { $any: true }])).toBe(50);
  });
});
