import type { Client } from '../client-sdk/index.js';
import { ChildTracker } from './helpers/child-process.js';
import { interestSeen, openClient } from './helpers/cluster.js';
import { RedisServer } from './helpers/redis-server.js';
import { serveProcess, type ServeProcess } from './helpers/serve-process.js';
import { take, until } from './helpers/setup.js';

/** Broker processes and a Redis started, killed and restarted: seconds on a quiet machine, more beside other work. */
const PROCESS_TEST_MS = 90_000;

// Broker processes, as operators run them: a node dies by SIGKILL, and Redis itself goes away.
let redis: RedisServer;
const children = new ChildTracker();
const clients: Client[] = [];

beforeEach(async () => {
  redis = await RedisServer.start();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await children.killAll();
  await redis.destroy();
});

function nodes(n: number): Promise<ServeProcess[]> {
  return Promise.all(Array.from({ length: n }, () => serveProcess(children, ['--memory', '--redis', redis.url])));
}

/** Publishes to `topic` until the receipt counts `n` receivers on the whole cluster. */
async function receiversBecome(pub: Client, topic: string, n: number, ms = 8_000): Promise<void> {
  let receivers = -1;
  await until(() => receivers === n, ms, async () => { receivers = (await pub.publish(topic, 'probe', { ack: 'submission' })).receivers; });
}

test('a node killed with SIGKILL stops receiving; the others answer at once and its interest expires', async () => {
  const [a, b, c] = await nodes(3);
  const pub = await openClient(a!.url, clients);
  const onB = await openClient(b!.url, clients);
  const onC = await openClient(c!.url, clients);
  const subB = onB.subscribe<string>('alerts.>');
  const subC = onC.subscribe<string>('alerts.*');
  await Promise.all([subB.ready, subC.ready]);
  await interestSeen(pub, [onB, onC]);
  expect((await pub.publish('alerts.fire', 'one', { ack: 'delivery' })).receivers).toBe(2);

  c!.child.child.kill('SIGKILL');
  await c!.child.exited;
  // Its channel has no listener any more: a receipt does not wait for it, even before it expires.
  const receipt = await pub.publish('alerts.fire', 'two', { ack: 'delivery', timeout: 60_000 });
  expect(receipt).toMatchObject({ receivers: 1, delivered: 1, timedOut: false });
  await receiversBecome(pub, 'alerts.flood', 1); // its interest expired: only B is counted
  expect((await take(subB, 2)).map((m) => m.data)).toEqual(['one', 'two']);
  await a!.child.line('stdout', /"msg":"cluster node left"/);
}, PROCESS_TEST_MS);

test('with Redis stopped, local delivery goes on; once it is back, cross-node delivery resumes', async () => {
  const [a, b] = await nodes(2);
  const pub = await openClient(a!.url, clients);
  const atA: string[] = [];
  const atB: string[] = [];
  const local = pub.subscribe<string>('news.>', { callback: (m) => { if (m.data !== 'probe') atA.push(m.data); } });
  const onB = await openClient(b!.url, clients);
  const remote = onB.subscribe<string>('news.>', { callback: (m) => { if (m.data !== 'probe') atB.push(m.data); } });
  await Promise.all([local.ready, remote.ready]);
  await interestSeen(pub, [pub, onB]);
  expect((await pub.publish('news.a', 'before', { ack: 'submission' })).receivers).toBe(2);

  await redis.stop();
  await a!.child.line('stdout', /"msg":"cluster: Redis unreachable/);
  const during = await pub.publish('news.a', 'during', { ack: 'delivery', timeout: 60_000 });
  expect(during).toMatchObject({ receivers: 1, delivered: 1, timedOut: false });

  await redis.restart();
  await a!.child.line('stdout', /"msg":"cluster: Redis reachable again"/);
  await receiversBecome(pub, 'news.a', 2);
  await pub.publish('news.a', 'after', { ack: 'delivery' });
  await until(() => atB.includes('after'));
  expect(atA).toEqual(['before', 'during', 'after']);
  expect(atB).toEqual(['before', 'after']); // what was published while Redis was away stayed local
}, PROCESS_TEST_MS);
