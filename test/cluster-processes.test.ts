/**
 * Issue 15's acceptance list, run against three `linden serve --redis` processes on one
 * redis-server of the test's own: nothing is shared between the brokers but Redis. The
 * in-process suites (cluster-pubsub, cluster-queues, cluster-spaces) go into each feature's
 * corners; this file checks that the same holds between real processes. SIGKILL of a node and a
 * Redis restart are in cluster-queue-failures. Runs the built CLI (`npm run build`).
 */
import { Redis } from 'ioredis';
import { connect, type Client } from '../client-sdk/index.js';
import { ChildTracker } from './helpers/child-process.js';
import { interestSeen } from './helpers/cluster.js';
import { RedisServer } from './helpers/redis-server.js';
import { serveProcess, type ServeProcess } from './helpers/serve-process.js';
import { take, until } from './helpers/setup.js';
import { waitersFiled } from './helpers/cluster-redis.js';

const SLOW = 60_000; // three Node processes starting beside other suites on two cores
let redis: RedisServer;
let inspect: Redis;
const children = new ChildTracker();
let nodes: ServeProcess[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
  inspect = new Redis(redis.url);
  nodes = await Promise.all([0, 1, 2].map(() => serveProcess(children, ['--memory', '--redis', redis.url, '--log-level', 'warn'])));
}, SLOW);
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  inspect.disconnect();
  await children.killAll();
  await redis.destroy();
});

/** A client of node `i` (0, 1 or 2). */
async function on(i: number): Promise<Client> {
  const client = await connect(nodes[i]!.url, { reconnect: false });
  clients.push(client);
  return client;
}

test('pub/sub with wildcards across processes: each matching subscriber on another node gets it, and the receipt counts them', async () => {
  const [a, b, c] = await Promise.all([on(0), on(1), on(2)]);
  const tail = b.subscribe<number>('orders.>');
  const star = c.subscribe<number>('orders.*.new');
  const other = c.subscribe<number>('invoices.*');
  await Promise.all([tail.ready, star.ready, other.ready]);
  await interestSeen(a, [b, c]);
  const receipt = await a.publish('orders.eu.new', 1, { ack: 'delivery' });
  expect(receipt).toMatchObject({ stage: 'delivery', receivers: 2, delivered: 2, timedOut: false });
  await a.publish('orders.eu.paid', 2, { ack: 'delivery' });
  expect((await take(tail, 2)).map((m) => [m.topic, m.data])).toEqual([['orders.eu.new', 1], ['orders.eu.paid', 2]]);
  expect((await take(star, 1)).map((m) => m.data)).toEqual([1]);
  other.unsubscribe();
}, SLOW);

test('a queue group with a member on each process gets every message once, spread over all three', async () => {
  const members = await Promise.all([on(0), on(1), on(2)]);
  const seen = members.map(() => [] as number[]);
  const subs = members.map((m, i) => m.subscribe<number>('jobs.*', { group: 'workers', callback: (msg) => { seen[i]!.push(msg.data); } }));
  await Promise.all(subs.map((s) => s.ready));
  const pub = await on(0);
  await interestSeen(pub, members);
  const total = 300;
  for (let i = 0; i < total; i++) void pub.publish('jobs.run', i);
  await pub.flush();
  await until(() => seen.flat().length >= total, 20_000);
  expect(seen.flat().sort((x, y) => x - y)).toEqual([...Array(total).keys()]); // none lost, none twice
  for (const got of seen) expect(got.length).toBeGreaterThan(total / 6); // each node takes a share
}, SLOW);

test('a durable queue published on one process is consumed on another, in order; the processing receipt crosses back', async () => {
  const [a, , c] = await Promise.all([on(0), on(1), on(2)]);
  await a.createQueue('orders-q', 'shop.>', {});
  const receipts = [];
  for (let n = 0; n < 20; n++) receipts.push(a.publish('shop.order', { n }, { mode: 'persistent', ack: 'submission' }));
  await Promise.all(receipts);
  const consumer = c.subscribe<{ n: number }>('shop.>', { durable: 'orders-q' });
  const got = await take(consumer, 20);
  expect(got.map((m) => m.data.n)).toEqual([...Array(20).keys()]);
  for (const m of got) m.ack();
  // A publish that waits for processing completes when the consumer on the other node acks.
  const acking = (async () => { for await (const m of consumer) m.ack(); })();
  const processed = await a.publish('shop.order', { n: 20 }, { mode: 'persistent', ack: 'processing', timeout: 10_000 });
  expect(processed).toMatchObject({ stage: 'processing', processed: 1, timedOut: false });
  consumer.unsubscribe(); // before the queue goes, or its end would fail the acking loop
  await acking;
  await a.deleteQueue('orders-q');
}, SLOW);

test('receipts across processes name the receiver on another node that did not process in time', async () => {
  const [a, b] = await Promise.all([on(0), on(1)]);
  const silent = b.subscribe('audit.x'); // an iterator nobody reads: never acks
  await silent.ready;
  await interestSeen(a, [b]);
  const receipt = await a.publish('audit.x', 'hello', { ack: 'processing', timeout: 500 });
  expect(receipt).toMatchObject({ stage: 'processing', receivers: 1, delivered: 1, processed: 0, timedOut: true });
  expect(receipt.missing).toEqual([{ connection: expect.stringMatching(/^c\d+-/), sid: silent.sid }]);
}, SLOW);


test('tuples across processes: an in blocked on each node is served in arrival order by outs from the others', async () => {
  const [a, b, c] = await Promise.all([on(0), on(1), on(2)]);
  const first = b.space('jobs').in<[string, number]>(['resize', { $type: 'integer' }]);
  await waitersFiled(inspect, 'jobs', 2, 1);
  const second = c.space('jobs').in<[string, number]>(['resize', { $any: true }]);
  await waitersFiled(inspect, 'jobs', 2, 2);
  const third = a.space('jobs').in<[string, number]>(['resize', { $any: true }]);
  await waitersFiled(inspect, 'jobs', 2, 3);
  await a.space('jobs').out(['resize', 'cat.png']); // the first does not match: the second takes it
  await c.space('jobs').out(['resize', 1]);
  await b.space('jobs').out(['resize', 2]);
  expect(await Promise.all([first, second, third])).toEqual([['resize', 1], ['resize', 'cat.png'], ['resize', 2]]);
  // Written on one node, read and taken once on the others.
  await a.space('jobs').out(['done', 7]);
  expect(await b.space('jobs').rd(['done', { $any: true }])).toEqual(['done', 7]);
  const takes = await Promise.all([b.space('jobs').inp(['done', { $any: true }]), c.space('jobs').inp(['done', { $any: true }])]);
  expect(takes.filter((x) => x !== null)).toEqual([['done', 7]]);
}, SLOW);
