import { fileURLToPath } from 'node:url';
import { requireBuilt } from './helpers/built.js';
import { ChildTracker } from './helpers/child-process.js';
import { interestSeen } from './helpers/cluster.js';
import { testQueueCluster } from './helpers/cluster-queues.js';
import { take, until } from './helpers/setup.js';

// The compiled CLI, as `npx linden` runs it; `npm run build` must have run first.
const MAIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const children = new ChildTracker();

const t = testQueueCluster();
beforeEach(() => t.start());
afterEach(async () => {
  await children.killAll();
  await t.cleanup();
});

describe('the cluster bus and the cluster queues as one system', () => {
  test('a persistent publish waiting for processing completes when a consumer on another node acks', async () => {
    const [a, b] = [await t.node(), await t.node()];
    const publisher = await t.client(a);
    const consumer = await t.client(b);
    const sub = consumer.subscribe<{ n: number }>('audit.>', { durable: 'audit' });
    await sub.ready;
    const delivered = await publisher.publish('audit.x', { n: 0 }, { mode: 'persistent', ack: 'delivery' });
    expect(delivered).toMatchObject({ stage: 'delivery', delivered: 1, queues: ['audit'], timedOut: false });
    const receipt = publisher.publish('audit.x', { n: 1 }, { mode: 'persistent', ack: 'processing' });
    const [first, second] = await take(sub, 2);
    first!.ack();
    expect(second!.data.n).toBe(1);
    second!.ack();
    expect(await receipt).toMatchObject({ stage: 'processing', receivers: 1, processed: 1, queues: ['audit'], timedOut: false });
  });

  test('a consumer on another node rejecting the message ends the receipt as rejected', async () => {
    const [a, b] = [await t.node(), await t.node()];
    const publisher = await t.client(a);
    const consumer = await t.client(b);
    await publisher.createQueue('jobs', 'jobs.>', { maxDeliveries: 1 });
    const sub = consumer.subscribe('jobs.>', { durable: 'jobs' });
    await sub.ready;
    const receipt = publisher.publish('jobs.x', 1, { mode: 'persistent', ack: 'processing', timeout: 10_000 });
    const [m] = await take(sub, 1);
    m!.nack();
    expect(await receipt).toMatchObject({ stage: 'processing', processed: 0, timedOut: false, rejected: [{ queue: 'jobs' }] });
  });

  test('a persistent publish reaches plain subscribers on other nodes, and its receipts count them', async () => {
    const [a, b] = [await t.node(), await t.node()];
    const publisher = await t.client(a);
    const listener = await t.client(b);
    await publisher.createQueue('orders', 'orders.>');
    const plain = listener.subscribe<{ n: number }>('orders.*');
    await plain.ready;
    await interestSeen(publisher, [listener]);
    const submitted = await publisher.publish('orders.eu', { n: 1 }, { mode: 'persistent', ack: 'submission' });
    expect(submitted).toMatchObject({ stage: 'submission', receivers: 2, queues: ['orders'] });
    const processing = publisher.publish('orders.eu', { n: 2 }, { mode: 'persistent', ack: 'processing', timeout: 1_000 });
    const got = await take(plain, 2);
    expect(got.map((m) => m.data.n)).toEqual([1, 2]);
    got[1]!.ack();
    // The queue has no consumer: the plain subscriber on b is counted, the queue is named as missing.
    expect(await processing).toMatchObject({ stage: 'processing', processed: 1, queues: ['orders'], timedOut: true, missing: [{ queue: 'orders' }] });
    await publisher.publish('orders.eu', { n: 3 }, { mode: 'persistent' });
    const [third] = await take(plain, 1);
    expect(third!.data.n).toBe(3);
  });

  test('admin cluster: every live node with its URL and connections, and the queues\' depth from Redis', async () => {
    const [a, b] = [await t.node(), await t.node()];
    const operator = await t.client(a);
    await t.client(b);
    const consumer = await t.client(b);
    await operator.createQueue('orders', 'orders.>', { maxInFlight: 1 });
    for (const n of [1, 2, 3]) await operator.publish('orders.eu', { n }, { mode: 'persistent', ack: 'submission' });
    const sub = consumer.subscribe('orders.>', { durable: 'orders' });
    await take(sub, 1); // held, not acked
    type View = { node: string; nodes: { node: string; url: string; connections: number; queueConsumers?: Record<string, number>; self: boolean }[]; queues: unknown[] };
    let view: View | undefined;
    // Each node's summary in Redis is rewritten periodically: wait until both count their connections (seen in CI: A's still 0).
    await until(() => view?.nodes.length === 2 && view.nodes[0]!.connections === 1 && view.nodes[1]!.connections === 2 && view.nodes[1]!.queueConsumers?.orders === 1 && view.queues.length > 0 && (view.queues[0] as { inFlight: number }).inFlight === 1, 10_000, async () => {
      view = (await operator.admin({ op: 'cluster' })) as View;
    });
    expect(view!.nodes).toEqual([
      { node: view!.node, url: a.url, connections: 1, queueConsumers: {}, connectionList: [expect.objectContaining({ id: expect.any(String) })], subscriptionList: [], startedAt: expect.any(Number), self: true },
      { node: expect.any(String), url: b.url, connections: 2, queueConsumers: { orders: 1 }, connectionList: expect.any(Array), subscriptionList: [expect.objectContaining({ pattern: 'orders.>', durable: 'orders', subscribers: 1 })], startedAt: expect.any(Number), self: false },
    ]);
    expect(view!.queues).toEqual([{ name: 'orders', pattern: 'orders.>', messages: 3, inFlight: 1, depth: 2 }]);
    // Connection ids end with the id of the node holding them, which `connections` names, every node's.
    const conns = (await (await t.client(b)).admin({ op: 'connections' })) as { id: string; node: string }[];
    expect(conns.every((c) => c.id.endsWith(`-${c.node}`))).toBe(true);
    expect(new Set(conns.map((c) => c.node))).toEqual(new Set(view!.nodes.map((n) => n.node)));
    const cli = await children.spawn(MAIN, ['cluster', '--url', b.url], {}, ['LINDEN_URL']).exited;
    expect(cli).toMatchObject({ code: 0 });
    expect(cli.stdout).toMatch(new RegExp(`^${view!.nodes[1]!.node} \\*\\s+${b.url}\\s+\\d+$`, 'm'));
    expect(cli.stdout).toMatch(/^orders\s+orders\.>\s+2\s+1\s+3$/m);
    await b.close();
    await until(() => view!.nodes.length === 1, 10_000, async () => {
      view = (await operator.admin({ op: 'cluster' })) as View;
    });
  }, 30_000);
});
