/**
 * Cluster mode when things die (issue 15): a broker process SIGKILLed with deliveries in flight
 * and publishes under way, and the Redis itself killed and restarted (AOF, appendfsync always).
 * Nothing a broker acknowledged may be lost. The process test runs the built CLI (`npm run build`).
 */
import { connect, LindenError, type Client } from '../client-sdk/index.js';
import { ChildTracker } from './helpers/child-process.js';
import { testQueueCluster as testCluster } from './helpers/cluster-queues.js';
import { serveProcess } from './helpers/serve-process.js';
import { take, until } from './helpers/setup.js';

const t = testCluster();
const children = new ChildTracker();
const clients: Client[] = [];
beforeEach(() => t.start());
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await children.killAll();
  await t.cleanup();
});

async function client(url: string): Promise<Client> {
  const c = await connect(url, { reconnect: false });
  clients.push(c);
  return c;
}

test('SIGKILL of one of three brokers under persistent load: its unacked deliveries come back through the others after ackWait, nothing acknowledged lost', async () => {
  const args = ['--redis', t.redis.url, '--memory', '--log-level', 'warn'];
  const [doomed, left, right] = await Promise.all([0, 1, 2].map(() => serveProcess(children, args)));
  await (await client(left!.url)).createQueue('work', 'jobs.>', { ackWait: 2_000, maxInFlight: 20 });

  // A consumer on the doomed broker takes its share and never acks.
  const hoarder = await client(doomed!.url);
  const held = hoarder.subscribe<{ n: number }>('jobs.>', { durable: 'work' });
  await held.ready;
  // Workers on the two others ack all they get.
  const seen = new Map<number, number>();
  let redelivered = 0;
  for (const serve of [left!, right!]) {
    const sub = (await client(serve.url)).subscribe<{ n: number }>('jobs.>', { durable: 'work' });
    await sub.ready;
    void (async () => {
      for await (const m of sub) {
        seen.set(m.data.n, (seen.get(m.data.n) ?? 0) + 1);
        if (m.deliveryCount > 1) redelivered++;
        m.ack();
      }
    })();
  }

  // Publishers on the doomed broker and another; what a broker acknowledged must arrive.
  const acknowledged = new Set<number>();
  const publish = async (c: Client, from: number, count: number) => {
    for (let n = from; n < from + count; n++) {
      try {
        await c.publish(`jobs.${n}`, { n }, { mode: 'persistent', ack: 'submission' });
        acknowledged.add(n);
      } catch {
        return; // its broker died: not acknowledged, no promise made
      }
    }
  };
  const onDoomed = publish(await client(doomed!.url), 0, 1_000);
  const onLeft = publish(await client(left!.url), 10_000, 300);
  const [first] = await take(held, 1); // the hoarder holds deliveries, unacked
  expect(first).toBeDefined();
  await until(() => acknowledged.size >= 100, 10_000);
  doomed!.child.child.kill('SIGKILL');
  await doomed!.child.exited;
  await Promise.all([onDoomed, onLeft]);
  expect([...acknowledged].filter((n) => n >= 10_000)).toHaveLength(300); // the live broker acknowledged all of its own
  await until(() => [...acknowledged].every((n) => seen.has(n)), 20_000);
  // What the hoarder held came back once, counted as a second delivery; nothing a worker acked came twice.
  expect(redelivered).toBeGreaterThan(0);
  expect([...seen.values()].filter((count) => count > 1)).toEqual([]);
}, 90_000);

test('Redis killed and restarted: STORE_UNAVAILABLE while it is down, transient traffic goes on, nothing acknowledged lost', async () => {
  const [a, b] = [await t.node(), await t.node()];
  const pa = await client(a.url);
  await pa.createQueue('ledger', 'ledger.>');
  const acknowledged: number[] = [];
  for (let n = 0; n < 20; n++) {
    await pa.publish('ledger.x', { n }, { mode: 'persistent', ack: 'submission' });
    acknowledged.push(n);
  }
  const listener = await client(b.url);
  const live = listener.subscribe<{ n: number }>('news.>');
  await live.ready;

  await t.redis.kill();
  const refused = await pa.publish('ledger.x', { n: 20 }, { mode: 'persistent', ack: 'submission' }).catch((err: unknown) => err);
  expect(refused).toBeInstanceOf(LindenError);
  expect(refused).toMatchObject({ code: 'STORE_UNAVAILABLE' });
  const sub = (await client(b.url)).subscribe('ledger.>', { durable: 'ledger' });
  await expect(sub.ready).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  // Transient pub/sub does not need Redis on one node.
  await (await client(b.url)).publish('news.x', { n: 1 }, { ack: 'submission' });
  expect((await take(live, 1))[0]!.data).toEqual({ n: 1 });

  await t.redis.restart();
  // Back by itself: the first persistent publish that goes through is acknowledged and kept.
  await untilResolved(() => pa.publish('ledger.x', { n: 21 }, { mode: 'persistent', ack: 'submission' }));
  acknowledged.push(21);
  const consumer = (await client(b.url)).subscribe<{ n: number }>('ledger.>', { durable: 'ledger' });
  const got = await take(consumer, acknowledged.length);
  expect(got.map((m) => m.data.n)).toEqual(acknowledged);
}, 90_000);

test('a broker starts while its Redis is down, refuses persistent work with STORE_UNAVAILABLE, and serves it once Redis is up', async () => {
  await t.redis.stop();
  const a = await t.node();
  const c = await client(a.url);
  await expect(c.createQueue('later', 'later.>')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  await t.redis.restart();
  await untilResolved(() => c.createQueue('later', 'later.>'));
  expect(await c.publish('later.x', { n: 1 }, { mode: 'persistent', ack: 'submission' })).toMatchObject({ queues: ['later'] });
}, 90_000);

/** Calls `attempt` until it resolves, on each macrotask turn; STORE_UNAVAILABLE means not yet. */
async function untilResolved(attempt: () => Promise<unknown>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await attempt();
      return;
    } catch (err) {
      if ((err as LindenError).code !== 'STORE_UNAVAILABLE' || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
