import { ChildTracker } from './helpers/child-process.js';
import { RedisServer } from './helpers/redis-server.js';
import { CLI_MAIN, serveProcess } from './helpers/serve-process.js';

// README "Running a cluster", as its shell lines run it: three `linden serve --redis`, a
// subscriber on each of two nodes (one in a group), a publish on the third; a tuple taken on
// one node, written on another.
let redis: RedisServer;
const children = new ChildTracker();

beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await children.killAll();
  await redis.destroy();
});

test("README's three-node example: a publish on one node reaches a subscriber and a group member on the two others; an in on one node takes an out from another", async () => {
  const [a, b, c] = await Promise.all([1, 2, 3].map(() => serveProcess(children, ['--memory', '--redis', redis.url, '--log-level', 'warn'])));
  const cli = (args: string[]) => children.spawn(CLI_MAIN, args, {}, ['LINDEN_URL', 'NODE_OPTIONS']);
  const plain = cli(['sub', 'orders.>', '--url', b!.url, '--count', '1']);
  const member = cli(['sub', 'orders.*', '--group', 'billing', '--url', c!.url, '--count', '1']);
  await Promise.all([plain.line('stderr', 'subscribed to orders.>'), member.line('stderr', 'subscribed to orders.* in group billing')]);
  const pub = await cli(['pub', 'orders.eu', '{"id": 1}', '--ack', 'delivery', '--url', a!.url]).exited;
  expect(JSON.parse(pub.stdout)).toMatchObject({ stage: 'delivery', receivers: 2, delivered: 2 });
  for (const sub of [plain, member]) expect((await sub.exited).stdout).toBe('orders.eu {"id":1}\n');
  // A blocked in on one node, an out on another.
  const taker = cli(['in', 'jobs', '["resize", {"$type": "string"}]', '--url', b!.url]);
  await taker.line('stderr', 'waiting on jobs for ["resize",{"$type":"string"}]');
  expect((await cli(['out', 'jobs', '["resize", "cat.png"]', '--url', c!.url]).exited).code).toBe(0);
  expect((await taker.exited).stdout).toBe('["resize","cat.png"]\n');
});
