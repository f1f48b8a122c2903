import { ChildTracker } from './helpers/child-process.js';
import { exampleStarter, processedIds, range, requireCompiledExample } from './helpers/examples.js';
import { testBroker } from './helpers/setup.js';

const t = testBroker();
const children = new ChildTracker();
const start = exampleStarter(t, children, ['ORDER_COUNT', 'ORDER_ACK']);

beforeAll(() => requireCompiledExample('consumer.js'));

beforeEach(() => t.start());

afterEach(async () => {
  // A failed assertion can leave children running; none may outlive its test.
  await children.killAll();
  await t.cleanup();
});

test('the consumer handles every order the producer sends, acking each (ack: processing)', async () => {
  const consumer = start('consumer.js', ['7']);
  await consumer.line('stdout', 'ready');

  const producer = await start('producer.js', ['7']).exited;
  expect(producer.stderr).toBe('');
  expect(producer.code).toBe(0);
  const receipts = producer.stdout.split('\n').filter((l) => l.startsWith('order #'));
  expect(receipts).toEqual(range(7).map((id) => `order #${id}: receivers=1 delivered=1 processed=1 failed=0 dropped=0`));
  expect(producer.stdout).toContain('published 7 orders, 7 processed');

  const consumed = await consumer.exited;
  expect(consumed.stderr).toBe('');
  expect(consumed.code).toBe(0);
  expect(processedIds(consumed.stdout)).toEqual(range(7));
  expect(consumed.stdout).toContain('handled 7 orders');
});

test('the producer takes its count and sync point from the environment (ack: delivery)', async () => {
  const consumer = start('consumer.js', ['4']);
  await consumer.line('stdout', 'ready');

  const producer = await start('producer.js', [], { ORDER_COUNT: '4', ORDER_ACK: 'delivery' }).exited;
  expect(producer.code).toBe(0);
  const receipts = producer.stdout.split('\n').filter((l) => l.startsWith('order #'));
  expect(receipts).toHaveLength(4);
  // `delivery` resolves when the order reaches the consumer, before it acks: processed may be 0 or 1.
  for (const [i, line] of receipts.entries()) {
    expect(line).toMatch(new RegExp(`^order #${i + 1}: receivers=1 delivered=1 processed=[01] failed=0 dropped=0$`));
  }
  expect(producer.stdout).toContain('published 4 orders, 4 delivered');

  const consumed = await consumer.exited;
  expect(consumed.code).toBe(0);
  expect(processedIds(consumed.stdout)).toEqual(range(4));
});

test('consumers in the group share the orders: each order is handled exactly once', async () => {
  const consumers = [start('consumer.js'), start('consumer.js')];
  await Promise.all(consumers.map((c) => c.line('stdout', 'ready')));

  const producer = await start('producer.js', ['12']).exited;
  expect(producer.code).toBe(0);
  expect(producer.stdout).toContain('published 12 orders, 12 processed');

  // Every order was acked before its receipt came back, so the consumers are done with them;
  // SIGINT makes them leave their loop and exit cleanly.
  for (const c of consumers) c.child.kill('SIGINT');
  const exits = await Promise.all(consumers.map((c) => c.exited));
  for (const e of exits) {
    expect(e.stderr).toBe('');
    expect(e.code).toBe(0);
  }
  const ids = exits.flatMap((e) => processedIds(e.stdout));
  expect([...ids].sort((a, b) => a - b)).toEqual(range(12));
  const counts = exits.map((e) => Number(/^handled (\d+) orders$/m.exec(e.stdout)?.[1]));
  expect(counts[0]! + counts[1]!).toBe(12);
});

test('the producer exits 1 when no consumer is there to take the orders', async () => {
  const producer = await start('producer.js', ['2']).exited;
  expect(producer.code).toBe(1);
  expect(producer.stdout).toContain('order #1: receivers=0 delivered=0 processed=0');
  expect(producer.stdout).toContain('published 2 orders, 0 processed');
});

test('retained-status prints every device\'s retained status, then a live change, and clears them', async () => {
  const run = await start('retained-status.js').exited;
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect(run.stdout.trim().split('\n')).toEqual([
    'door-1 is online (retained)', 'door-2 is offline (retained)', 'door-3 is online (retained)', 'door-2 is online (live)',
    'cleared 3 retained statuses',
  ]);
});

test('request-reply prints the sums its responder computed and exits 0', async () => {
  const run = await start('request-reply.js').exited;
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect(run.stdout.trimEnd().split('\n')).toEqual(['1 + 2 = 3', '20 + 22 = 42', '-7 + 7 = 0', '0.5 + 0.25 = 0.75']);
});

test('request-reply runs its responder and requester as separate processes', async () => {
  const responder = start('request-reply.js', ['responder']);
  await responder.line('stdout', 'responder ready');

  const requester = await start('request-reply.js', ['requester']).exited;
  expect(requester.code).toBe(0);
  expect(requester.stdout).toContain('20 + 22 = 42');

  responder.child.kill('SIGINT');
  const stopped = await responder.exited;
  expect(stopped.stderr).toBe('');
  expect(stopped.code).toBe(0);
});

test('examples reject bad arguments with a usage line and exit code 2', async () => {
  const runs = await Promise.all([
    start('consumer.js', ['many']).exited,
    start('producer.js', ['-3']).exited,
    start('producer.js', ['1', 'eventually']).exited,
    start('request-reply.js', ['bystander']).exited,
  ]);
  for (const r of runs) {
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^usage: /);
  }
});
