/**
 * Persistent tuple spaces: `client.space(name, { persistent: true })` keeps its tuples in the
 * broker's store; `out` is acknowledged after the durable write; tuples and leases survive a
 * restart (a clean one and a kill -9).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type Client, type Lease, type TupleEvent } from '../client-sdk/index.js';
import { ChildTracker } from './helpers/child-process.js';
import { rawClients } from './helpers/raw-client.js';
import { take, testBroker, until } from './helpers/setup.js';

const t = testBroker();
const raw = rawClients();
const children = new ChildTracker();
let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'linden-spaces-'));
});
afterEach(async () => {
  await raw.closeAll();
  await t.cleanup();
  await children.killAll();
  await rm(dataDir, { recursive: true, force: true });
});

const any = { $any: true };

/** Closes the clients and the broker, then starts a broker on the same data folder. */
async function restart(): Promise<Client> {
  await t.cleanup();
  await t.start({ dataDir });
  return t.client();
}

test('tuples, their order, ids and leases survive a restart', async () => {
  await t.start({ dataDir });
  const jobs = (await t.client()).space('jobs', { persistent: true });
  const leases: Lease[] = [];
  for (let n = 0; n < 5; n++) leases.push((await jobs.out(['job', n], n === 1 ? { ttl: 3_600_000 } : {}))!);
  await jobs.out(['other', 'x']);

  const again = (await restart()).space('jobs'); // no stated mode: the space is as it was
  expect(await again.rdAll(['job', any])).toEqual([0, 1, 2, 3, 4].map((n) => ['job', n]));
  // The lease came back as it was granted, and the ids still name the same tuples.
  const reader = await raw.connect(t.broker.url, 'msgpack');
  const found = await reader.call({ t: 'rd', id: reader.id(), space: 'jobs', template: ['job', 1], wait: false });
  expect(found).toMatchObject({ t: 'tuple', tid: leases[1]!.id, expiresAt: leases[1]!.expiresAt });
  await again.cancel(leases[3]!.id);
  expect((await again.renew(leases[2]!.id, 60_000)).id).toBe(leases[2]!.id);
  // A new tuple is younger than every recovered one: taken last, with an id never used before.
  const fresh = (await again.out(['job', 5]))!;
  expect(leases.map((l) => l.id)).not.toContain(fresh.id);
  expect(parseInt(fresh.id, 36)).toBeGreaterThan(Math.max(...leases.map((l) => parseInt(l.id, 36))));
  expect(await again.inAll(['job', any])).toEqual([0, 1, 2, 4, 5].map((n) => ['job', n]));
});

test('leases keep running across a restart: ended ones are dropped, running ones expire on time', async () => {
  await t.start({ dataDir });
  const s = (await t.client()).space('leased', { persistent: true });
  const short = (await s.out(['short'], { ttl: 50 }))!;
  const soon = (await s.out(['soon'], { ttl: 1_500 }))!;
  await s.out(['forever']);
  await t.cleanup();
  await until(() => Date.now() > short.expiresAt!); // the lease ends while no broker runs
  await t.start({ dataDir });
  const again = (await t.client()).space('leased');
  const expired = again.notify([any], { events: ['expire'] });
  await expired.ready;
  // On a loaded machine the restart can outlast the 1.5 s lease: the expire event is only owed
  // to a notify that was in place before the lease ended.
  const watching = Date.now() < soon.expiresAt!;
  expect(await again.rdp(['short'])).toBeNull();
  if (watching) {
    const [event] = await take(expired as AsyncIterable<TupleEvent<unknown[]>>, 1);
    expect(event!.tuple).toEqual(['soon']);
  }
  let gone = false;
  await until(() => gone, 10_000, async () => { gone = (await again.rdp(['soon'])) === null; });
  expect(await again.rdAll([any])).toEqual([['forever']]);
});

test('transient spaces do not survive; taken and cancelled tuples stay gone', async () => {
  await t.start({ dataDir });
  const c = await t.client();
  const scratch = c.space('scratch');
  await scratch.out(['temp']);
  const kept = c.space('kept', { persistent: true });
  for (const n of [1, 2, 3, 4]) await kept.out(['n', n]);
  expect(await kept.inp(['n', 1])).toEqual(['n', 1]);
  expect(await kept.inAll(['n', 2])).toEqual([['n', 2]]);
  const lease = (await kept.out(['n', 9]))!;
  await kept.cancel(lease.id);

  const again = await restart();
  expect(await again.space('scratch').rdp([any])).toBeNull();
  expect(await again.space('kept').rdAll(['n', any])).toEqual([['n', 3], ['n', 4]]);
  // The newest id before the restart belonged to a tuple no longer stored: it is still not handed out again.
  const fresh = (await again.space('kept').out(['n', 10]))!;
  expect(parseInt(fresh.id, 36)).toBeGreaterThan(parseInt(lease.id, 36));
});

test('a reserved tuple stays stored until acked: unacked it comes back after a restart, acked it does not', async () => {
  await t.start({ dataDir });
  const s = (await t.client()).space('work', { persistent: true });
  await s.out(['task', 'a']);
  await s.out(['task', 'b']);
  const a = (await s.in(['task', 'a'], { reserve: 60_000 }))!;
  const b = (await s.in(['task', 'b'], { reserve: 60_000 }))!;
  await b.ack();
  expect(a.tuple).toEqual(['task', 'a']);
  // An in that was waiting takes a new tuple under reservation straight from its out: stored too.
  const waiting = s.in(['task', 'c'], { reserve: 60_000 });
  await s.out(['task', 'c']);
  expect((await waiting)!.tuple).toEqual(['task', 'c']);

  const again = (await restart()).space('work');
  expect(await again.rdAll(['task', any])).toEqual([['task', 'a'], ['task', 'c']]);
});

test('batches are stored as one: outs survive, inps stay taken; the reply comes after the write', async () => {
  await t.start({ dataDir });
  const s = (await t.client()).space('ledger', { persistent: true });
  await s.out(['balance', 10]);
  const results = await s.batch([{ inp: ['balance', any] }, { out: ['balance', 7] }, { out: ['log', 'paid 3'] }]);
  expect(results.map((r) => r.tuple)).toEqual([['balance', 10], ['balance', 7], ['log', 'paid 3']]);
  const again = (await restart()).space('ledger');
  expect(await again.rdAll([any, any])).toEqual([['balance', 7], ['log', 'paid 3']]);
});

test('the mode of a space holding tuples is fixed: a writer stating the other one gets SPACE_MODE_CONFLICT', async () => {
  await t.start({ dataDir });
  const c = await t.client();
  await c.space('plain').out(['x']);
  await expect(c.space('plain', { persistent: true }).out(['y'])).rejects.toMatchObject({ code: 'SPACE_MODE_CONFLICT' });
  await expect(c.space('plain', { persistent: true }).batch([{ out: ['y'] }])).rejects.toMatchObject({ code: 'SPACE_MODE_CONFLICT' });

  const kept = c.space('kept', { persistent: true });
  await kept.out(['x']);
  await expect(c.space('kept', { persistent: false }).out(['y'])).rejects.toMatchObject({ code: 'SPACE_MODE_CONFLICT' });
  await c.space('kept').out(['unstated']); // no stated mode: written in the space's mode
  // Reading needs no mode; once empty a space takes the mode of the next writer that states one.
  expect(await c.space('plain').inp(['x'])).toEqual(['x']);
  await c.space('plain', { persistent: true }).out(['now kept']);

  const again = await restart();
  expect(await again.space('plain').rdAll([any])).toEqual([['now kept']]);
  expect(await again.space('kept').rdAll([any])).toEqual([['x'], ['unstated']]);
});

test('the SDK checks the option; without a data folder persistent spaces work in memory', async () => {
  const c = await t.client();
  expect(() => c.space('bad', { persistent: 'yes' as unknown as boolean })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  const s = c.space('mem', { persistent: true });
  expect(s).toBe(c.space('mem', { persistent: true }));
  await s.out(['a']);
  expect(await s.inp(['a'])).toEqual(['a']);
});

test('after a kill -9 every acknowledged out is there, in order, and a reserved tuple is back', async () => {
  const broker = children.spawn(fileURLToPath(new URL('./helpers/space-broker.mjs', import.meta.url)), [dataDir]);
  const [, url] = await broker.line('stdout', /^\{"url":"(.*)"\}$/);
  const client = await connect(url!, { reconnect: false });
  const acked: number[] = [];
  try {
    const s = client.space('jobs', { persistent: true });
    await s.out(['held']);
    expect(await s.in(['held'], { reserve: 600_000 })).not.toBeNull();
    const target = 100 + Math.floor(Math.random() * 300);
    let next = 0;
    // Keep 32 outs in flight; kill the broker once `target` of them were acknowledged.
    await new Promise<void>((resolve) => {
      const one = (): void => {
        const n = next++;
        s.out(['job', n]).then(() => {
          acked.push(n);
          if (acked.length === target) {
            broker.child.kill('SIGKILL');
            resolve();
          } else if (acked.length < target) one();
        }, () => {}); // outs still in flight when the broker dies fail: they were never acknowledged
      };
      for (let i = 0; i < 32; i++) one();
    });
    expect((await broker.exited).signal).toBe('SIGKILL');
  } finally {
    await client.close();
  }

  await t.start({ dataDir });
  const jobs = (await t.client()).space('jobs');
  const stored = (await jobs.rdAll(['job', any], { limit: 100_000 })).map(([, n]) => n as number);
  expect(acked.filter((n) => !stored.includes(n))).toEqual([]);
  expect(stored).toEqual([...stored].sort((x, y) => x - y));
  expect(await jobs.rdp(['held'])).toEqual(['held']);
});
