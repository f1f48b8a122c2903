import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Message } from '../client-sdk/index.js';
import { ChildTracker, type Exit, type NodeChild } from './helpers/child-process.js';
import { CLI_MAIN, LISTENING_LINE, serveProcess } from './helpers/serve-process.js';
import { take, testBroker } from './helpers/setup.js';
import { requireBuilt } from './helpers/built.js';

const t = testBroker();
const children = new ChildTracker();
let dataDir: string;

/** Starts the CLI; a developer's own LINDEN_URL must not steer the tests. */
function cli(args: string[]): NodeChild {
  return children.spawn(CLI_MAIN, args, {}, ['LINDEN_URL']);
}

function run(args: string[]): Promise<Exit> {
  return cli(args).exited;
}

beforeAll(() => {
  requireBuilt(CLI_MAIN);
});

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'linden-cli-queue-'));
});

afterEach(async () => {
  await children.killAll();
  await t.cleanup();
  await rm(dataDir, { recursive: true, force: true });
});

test('--help lists queue create and delete with every setting', async () => {
  const help = await run(['queue', '--help']);
  expect(help.code).toBe(0);
  for (const name of ['create', 'delete']) expect(help.stdout).toMatch(new RegExp(`^\\s+${name}\\b`, 'm'));
  const create = await run(['queue', 'create', '--help']);
  for (const flag of ['--ack-wait <ms>', '--max-in-flight <n>', '--max-deliveries <n>', '--max-messages <n>', '--max-bytes <n>', '--overflow <policy>', '--url <ws-url>']) {
    expect(create.stdout).toContain(flag);
  }
  const serve = await run(['serve', '--help']);
  expect(serve.stdout).toContain('--data <dir>');
  expect(serve.stdout).toContain('./linden-data');
  expect(serve.stdout).toContain('--memory');
});

test('queue create keeps persistent messages published before any consumer; sub --durable takes and acks them', async () => {
  const broker = await t.start({ dataDir });
  const created = await run(['queue', 'create', 'billing', 'orders.>', '--max-deliveries', '3', '--url', broker.url]);
  expect(created).toMatchObject({ code: 0, stdout: '' });
  expect(created.stderr).toBe('queue billing keeps persistent messages on orders.>\n');

  // --persistent waits for submission by default and prints the receipt naming the queue.
  const published = await run(['pub', 'orders.eu', '{"n": 1}', '--persistent', '--url', broker.url]);
  expect(published.code).toBe(0);
  expect(JSON.parse(published.stdout)).toMatchObject({ stage: 'submission', receivers: 1, queues: ['billing'] });
  const second = await run(['pub', 'orders.us', '{"n": 2}', '--persistent', '--ack', 'none', '--url', broker.url]);
  expect(second).toMatchObject({ code: 0, stdout: '' });

  const sub = await run(['sub', 'orders.>', '--durable', 'billing', '--count', '2', '--json', '--url', broker.url]);
  expect(sub.code).toBe(0);
  expect(sub.stderr).toContain('subscribed to orders.> in durable queue billing');
  expect(sub.stdout.trimEnd().split('\n').map((l) => JSON.parse(l))).toEqual([
    { topic: 'orders.eu', id: expect.any(String), data: { n: 1 }, deliveryCount: 1 },
    { topic: 'orders.us', id: expect.any(String), data: { n: 2 }, deliveryCount: 1 },
  ]);

  // Both were acked once printed: the queue's next message is one published now.
  const client = await t.client();
  const billing = client.subscribe<{ n: number }>('orders.>', { durable: 'billing' });
  await billing.ready;
  await client.publish('orders.eu', { n: 3 }, { mode: 'persistent', ack: 'submission' });
  const [next] = await take(billing as AsyncIterable<Message<{ n: number }>>, 1);
  expect([next!.data.n, next!.deliveryCount]).toEqual([3, 1]);
});

test('queue settings reach the broker; pub --msg-id deduplicates; queue delete drops the queue', async () => {
  const broker = await t.start({ dataDir });
  const url = ['--url', broker.url];
  expect((await run(['queue', 'create', 'small', 'small.>', '--max-messages', '1', '--overflow', 'reject', '--ack-wait', '500', '--max-in-flight', '10', '--max-bytes', '4096', ...url])).code).toBe(0);

  const first = await run(['pub', 'small.x', '"a"', '--persistent', '--msg-id', 'order-1', ...url]);
  expect(JSON.parse(first.stdout)).toMatchObject({ id: 'order-1', queues: ['small'] });
  const repeat = await run(['pub', 'small.x', '"a"', '--persistent', '--msg-id', 'order-1', ...url]);
  expect(JSON.parse(repeat.stdout)).toMatchObject({ id: 'order-1', duplicate: true });
  const full = await run(['pub', 'small.x', '"b"', '--persistent', ...url]);
  expect(full.code).toBe(1);
  expect(full.stderr).toMatch(/^error QUEUE_FULL: /);

  const conflict = await run(['queue', 'create', 'small', 'other.>', ...url]);
  expect(conflict.code).toBe(1);
  expect(conflict.stderr).toMatch(/^error QUEUE_CONFLICT: /);

  expect(await run(['queue', 'delete', 'small', ...url])).toMatchObject({ code: 0, stderr: 'queue small deleted\n' });
  const gone = await run(['queue', 'delete', 'small', ...url]);
  expect(gone).toMatchObject({ code: 1, stderr: `queue "small" does not exist on the broker at ${broker.url}\n` });
  const unstored = await run(['pub', 'small.x', '"c"', '--persistent', ...url]);
  expect(JSON.parse(unstored.stdout)).toMatchObject({ receivers: 0 });
});

test('bad queue arguments exit 2 before connecting', async () => {
  const broker = await t.start();
  const url = ['--url', broker.url];
  const usage = [
    ['queue', 'create', 'q', 'a.>', '--overflow', 'sometimes'],
    ['queue', 'create', 'q', 'a.>', '--max-in-flight', '0'],
    ['queue', 'create', 'q', 'a.>', '--ack-wait', 'soon'],
    ['queue', 'create', 'q'],
    ['queue', 'frobnicate', 'q'],
    ['sub', 'a.>', '--durable', 'q', '--group', 'g'],
    ['queue', 'create', 'q', 'a..b'],
    ['queue', 'create', 'no spaces', 'a.>'],
    ['queue', 'delete', '.q'],
  ];
  const exits = await Promise.all(usage.map((args) => run([...args, ...url])));
  expect(exits.map((r, i) => [usage[i], r.code, r.stderr.split('\n').length])).toEqual(usage.map((args) => [args, 2, 2]));
  expect(exits[6]!.stderr).toMatch(/^error INVALID_PATTERN: /);
  expect(exits[7]!.stderr).toMatch(/^error INVALID_ARGUMENT: invalid queue name "no spaces": /);
});

test('serve --data keeps queues and messages across a restart; --memory keeps nothing', async () => {
  await Promise.all((['data', 'memory'] as const).map(async (mode) => {
    const args = mode === 'data' ? ['--data', dataDir, '--log-level', 'warn'] : ['--memory', '--log-level', 'warn'];
    const first = await serveProcess(children, args);
    expect((await run(['queue', 'create', 'keep', 'keep.>', '--url', first.url])).code).toBe(0);
    expect((await run(['pub', 'keep.it', '{"mode": "' + mode + '"}', '--persistent', '--url', first.url])).code).toBe(0);
    first.child.child.kill('SIGTERM');
    expect((await first.child.exited).code).toBe(0);

    const second = await serveProcess(children, args);
    if (mode === 'data') {
      const sub = await run(['sub', 'keep.>', '--durable', 'keep', '--count', '1', '--url', second.url]);
      expect(sub.stdout).toBe('keep.it {"mode":"data"}\n');
    } else {
      const receipt = await run(['pub', 'keep.it', '{}', '--persistent', '--url', second.url]);
      expect(JSON.parse(receipt.stdout)).toMatchObject({ receivers: 0 }); // the queue is gone with the process
    }
    second.child.child.kill('SIGTERM');
    await second.child.exited;
  }));
  expect((await run(['serve', '--memory', '--data', dataDir])).code).toBe(2);
}, 90_000); // four broker processes and six CLI runs: ran past 30 s in a full run beside other work

test('serve keeps its store in ./linden-data of the folder it was started in', async () => {
  // NodeChild cannot set a working folder, so this one is spawned by hand (and killed in finally).
  const child = spawn(process.execPath, [CLI_MAIN, 'serve', '--port', '0', '--log-level', 'warn'], { cwd: dataDir, stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    for await (const line of createInterface({ input: child.stdout })) if (LISTENING_LINE.test(line)) break;
    expect(existsSync(join(dataDir, 'linden-data'))).toBe(true);
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
  }
});
