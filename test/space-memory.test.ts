/**
 * What a space holds goes when the reason to hold it ends, weighed on a broker in a child process
 * after full collections: a tuple taken or cancelled leaves the lease heap at once, whatever its
 * lease (protocol.md §10.7), a renewal moves its one entry, and requests that only look
 * (`count`, `rd`/`in` that find nothing, `cancel`, `renew`, ...) create no space (§10.1).
 */
import { fileURLToPath } from 'node:url';
import { ChildTracker } from './helpers/child-process.js';
import { rawClients, type RawClient } from './helpers/raw-client.js';

const GC_BROKER = fileURLToPath(new URL('./helpers/gc-broker.mjs', import.meta.url));
const MB = 1024 * 1024;

const children = new ChildTracker();
const raw = rawClients();
afterEach(async () => {
  await raw.closeAll();
  await children.killAll();
});

interface GcBroker {
  url: string;
  /** Heap in use after full collections, in bytes. */
  heap(): Promise<number>;
}

async function gcBroker(): Promise<GcBroker> {
  const child = children.spawn(GC_BROKER);
  const [, url] = await child.line('stdout', /^\{"url":"(.*)"\}$/);
  let asked = 0;
  return {
    url: url!,
    async heap() {
      const n = ++asked;
      child.child.kill('SIGUSR2');
      const [, bytes] = await child.line('stdout', new RegExp(`^\\{"n":${n},"heap":(\\d+)\\}$`));
      return Number(bytes);
    },
  };
}

/**
 * Sends `count` requests made by `make`, in frames of `per`, and waits for every answer (the
 * broker answers a connection's requests in order, so the last one's answer comes last).
 */
async function pipeline(
  c: RawClient, count: number, make: (i: number, id: number) => object, per = 500, errorsExpected = false,
): Promise<void> {
  const first = c.messages.length;
  for (let start = 0; start < count; start += per) {
    const frame: object[] = [];
    let id = 0;
    for (let i = start; i < Math.min(count, start + per); i++) frame.push(make(i, (id = c.id())));
    c.send(frame);
    await c.reply(id);
  }
  if (!errorsExpected) expect(c.messages.slice(first).filter((m) => m.t === 'err')).toEqual([]);
}

async function spaceNames(c: RawClient): Promise<string[]> {
  const report = await c.call({ t: 'admin', id: c.id(), op: 'spaces' });
  return (report.result as { name: string }[]).map((s) => s.name);
}

const PAYLOAD = 'x'.repeat(20 * 1024);
const HOUR = 3_600_000;

/** Writes `n` tuples of 20 KB with a 1 h lease, then takes each with an `in` that finds it at once. */
async function writeAndTake(c: RawClient, n: number): Promise<void> {
  await pipeline(c, n, (i, id) => ({ t: 'out', id, space: 'big', tuple: ['big', i, PAYLOAD], ttl: HOUR, ack: 'submission' }), 40);
  await pipeline(c, n, (i, id) => ({ t: 'in', id, space: 'big', template: ['big', i, { $any: true }], wait: false }), 40);
}

test('3,000 tuples of 20 KB with a 1 h lease, written and taken: nothing of them stays', async () => {
  const broker = await gcBroker();
  const c = await raw.connect(broker.url, 'msgpack');
  await writeAndTake(c, 100); // the same work once on a small scale, so code and caches are in the baseline
  const before = await broker.heap();
  await writeAndTake(c, 3_000);
  const after = await broker.heap();
  // Held until their leases ended, the 60 MB of tuples would all still be there.
  expect((after - before) / MB).toBeLessThan(6);
});

test('a tuple renewed 50,000 times and cancelled leaves nothing behind', async () => {
  const broker = await gcBroker();
  const c = await raw.connect(broker.url, 'msgpack');
  const renewals = async (n: number) => {
    const lease = await c.call({ t: 'out', id: c.id(), space: 'renewed', tuple: ['r', PAYLOAD], ttl: HOUR, ack: 'submission' });
    await pipeline(c, n, (i, id) => ({ t: 'renew', id, space: 'renewed', tid: lease.tid, ttl: HOUR + i }), 2_000);
    expect(await c.call({ t: 'cancel', id: c.id(), space: 'renewed', tid: lease.tid })).toMatchObject({ t: 'ok' });
  };
  await renewals(2_000);
  const before = await broker.heap();
  await renewals(50_000);
  const after = await broker.heap();
  // One heap entry per renewal would be some 3 MB, each holding the 20 KB tuple until its old end.
  expect((after - before) / MB).toBeLessThan(1.5);
});

test('30,000 requests that look on fresh names leave no space and no memory behind', async () => {
  const broker = await gcBroker();
  const c = await raw.connect(broker.url, 'msgpack');
  const look = async (n: number, from: number) => {
    const name = (i: number) => `fresh.${from + i}`;
    await pipeline(c, n, (i, id) => ({ t: 'count', id, space: name(i), template: ['x', { $any: true }] }));
    await pipeline(c, n, (i, id) => ({ t: 'rd', id, space: name(n + i), template: ['x'], wait: false }));
    await pipeline(c, n, (i, id) => ({ t: 'in', id, space: name(2 * n + i), template: ['x'], limit: 10 }));
    // Each cancel fails (UNKNOWN_ID): frames of 100, the most errors one frame gets answered (§12).
    await pipeline(c, n, (i, id) => ({ t: 'cancel', id, space: name(3 * n + i), tid: 'zz' }), 100, true);
    // Blocking ins that time out: each holds a space while it waits, and lets it go after.
    await pipeline(c, n, (i, id) => ({ t: 'in', id, space: name(4 * n + i), template: ['x'], timeout: 1 }));
  };
  await look(1_000, 0);
  const before = await broker.heap();
  await look(6_000, 1_000_000);
  const after = await broker.heap();
  expect(await spaceNames(c)).toEqual([]);
  // A space kept per name would be some 50 MB.
  expect((after - before) / MB).toBeLessThan(3);
});
