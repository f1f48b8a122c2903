import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Message } from '../client-sdk/index.js';
import { ChildTracker } from './helpers/child-process.js';
import { exampleStarter, processedIds, range, requireCompiledExample } from './helpers/examples.js';
import { take, testBroker } from './helpers/setup.js';

const t = testBroker();
const children = new ChildTracker();
const start = exampleStarter(t, children, ['ORDER_COUNT']);
let dataDir: string;

beforeAll(() => requireCompiledExample('persistent-consumer.js'));

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'linden-examples-durable-'));
  await t.start({ dataDir });
});

afterEach(async () => {
  // A failed assertion can leave children running; none may outlive its test.
  await children.killAll();
  await t.cleanup();
  await rm(dataDir, { recursive: true, force: true });
});

test('orders published while no consumer runs reach the consumer started later, across a broker restart', async () => {
  const producer = await start('persistent-producer.js', ['5']).exited;
  expect(producer.stderr).toBe('');
  expect(producer.code).toBe(0);
  expect(producer.stdout.split('\n').filter((l) => l.startsWith('order #'))).toEqual(range(5).map((id) => `order #${id}: stored in billing`));
  expect(producer.stdout).toContain('published 5 orders, 5 stored');

  // Decoupled in time: the broker that took the orders is gone before the consumer exists.
  await t.cleanup();
  await t.start({ dataDir });

  const consumer = start('persistent-consumer.js', ['5']);
  const consumed = await consumer.exited;
  expect(consumed.stderr).toBe('');
  expect(consumed.code).toBe(0);
  expect(processedIds(consumed.stdout)).toEqual(range(5));
  expect(consumed.stdout).toContain('handled 5 orders');
});

test('the consumer may start first; a second producer run is deduplicated by msgId', async () => {
  const consumer = start('persistent-consumer.js', ['3']);
  await consumer.line('stdout', 'ready');
  expect((await start('persistent-producer.js', [], { ORDER_COUNT: '3' }).exited).code).toBe(0);
  expect(processedIds((await consumer.exited).stdout)).toEqual(range(3));

  const again = await start('persistent-producer.js', ['3']).exited;
  expect(again.code).toBe(0);
  expect(again.stdout.split('\n').filter((l) => l.startsWith('order #'))).toEqual(range(3).map((id) => `order #${id}: already stored (duplicate msgId)`));

  // Nothing was stored the second time: the next order in the queue is one published now.
  const client = await t.client();
  const billing = client.subscribe<{ id: number }>('orders.>', { durable: 'billing' });
  await billing.ready;
  await client.publish('orders.created', { id: 99 }, { mode: 'persistent', ack: 'submission' });
  const [next] = await take(billing as AsyncIterable<Message<{ id: number }>>, 1);
  expect(next!.data.id).toBe(99);
});

test('a payment that keeps failing is retried, then lands in the dead-letter queue', async () => {
  const run = await start('dead-letter-worker.js').exited;
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const lines = run.stdout.trimEnd().split('\n');
  expect(lines.filter((l) => l.startsWith('payment #2:'))).toEqual([1, 2, 3].map((n) => `payment #2: card declined (attempt ${n} of 3)`));
  expect(lines.filter((l) => /^payment #\d: charged/.test(l)).sort()).toEqual([
    'payment #1: charged 12.50 (attempt 1 of 3)',
    'payment #3: charged 7.25 (attempt 1 of 3)',
    'payment #4: charged 30.00 (attempt 1 of 3)',
  ]);
  expect(lines).toContain('dead letter: payment #2 (99.00 on 4000-declined) needs a human');
  // The dead letter comes after the last failed attempt, and the summary after everything.
  expect(lines.indexOf('dead letter: payment #2 (99.00 on 4000-declined) needs a human')).toBeGreaterThan(lines.indexOf('payment #2: card declined (attempt 3 of 3)'));
  expect(lines.at(-1)).toBe('done: 3 charged, 1 dead-lettered');
});

test('the persistent examples reject bad arguments with a usage line and exit code 2', async () => {
  const runs = await Promise.all([start('persistent-producer.js', ['none']).exited, start('persistent-consumer.js', ['0']).exited]);
  for (const r of runs) {
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^usage: /);
  }
});
