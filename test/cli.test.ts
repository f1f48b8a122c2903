import { fileURLToPath } from 'node:url';
import { connect } from '../client-sdk/index.js';
import { LINDEN_VERSION } from '../protocol/version.js';
import { ChildTracker, type Exit, type NodeChild } from './helpers/child-process.js';
import { LISTENING_LINE, listeningUrl } from './helpers/serve-process.js';
import { freePort, take, testBroker } from './helpers/setup.js';
import { requireBuilt } from './helpers/built.js';

// The compiled CLI, exactly as `npx linden` runs it; `npm run build` must have run first.
const MAIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

const t = testBroker();
const children = new ChildTracker();

/** Starts the CLI; a developer's own LINDEN_URL must not steer the tests. */
function cli(args: string[], env: Record<string, string> = {}): NodeChild {
  return children.spawn(MAIN, args, env, ['LINDEN_URL']);
}

/** Runs the CLI to completion. */
function run(args: string[], env?: Record<string, string>): Promise<Exit> {
  return cli(args, env).exited;
}

beforeAll(() => {
  requireBuilt(MAIN);
});

afterEach(async () => {
  await children.killAll();
  await t.cleanup();
});

test('--help lists the subcommands and --version prints the package version', async () => {
  const help = await run(['--help']);
  expect(help.code).toBe(0);
  for (const name of ['serve', 'pub', 'sub']) expect(help.stdout).toMatch(new RegExp(`^\\s+${name}\\b`, 'm'));

  const pubHelp = await run(['pub', '--help']);
  expect(pubHelp.code).toBe(0);
  expect(pubHelp.stdout).toContain('--url <ws-url>');
  expect(pubHelp.stdout).toContain('LINDEN_URL');

  const version = await run(['--version']);
  expect(version.code).toBe(0);
  expect(version.stdout.trim()).toBe(LINDEN_VERSION);
});

test('pub --ack submission publishes and prints the receipt as JSON', async () => {
  const broker = await t.start();
  const listener = await t.client();
  const sub = listener.subscribe('cli.pub');
  await sub.ready;

  const result = await run(['pub', 'cli.pub', '{"n": 1, "tags": ["a"]}', '--ack', 'submission', '--url', broker.url]);
  expect(result.stderr).not.toMatch(/error/i);
  expect(result.code).toBe(0);
  const receipt = JSON.parse(result.stdout);
  expect(receipt).toMatchObject({ stage: 'submission', timedOut: false });
  expect(typeof receipt.id).toBe('string');

  const [msg] = await take(sub, 1);
  expect(msg!.id).toBe(receipt.id);
  expect(msg!.data).toEqual({ n: 1, tags: ['a'] });
});

test('the broker URL comes from LINDEN_URL when --url is absent', async () => {
  const broker = await t.start();
  const result = await run(['pub', 'cli.env', '42', '--ack', 'submission'], { LINDEN_URL: broker.url });
  expect(result.code).toBe(0);
  expect(JSON.parse(result.stdout).stage).toBe('submission');
});

test('sub --count 2 prints two messages published by an SDK client, then exits 0', async () => {
  const broker = await t.start();
  const sub = cli(['sub', 'greet.*', '--count', '2', '--url', broker.url]);
  await sub.line('stderr', /^subscribed to greet\.\*$/);

  const publisher = await t.client();
  await publisher.publish('greet.a', { n: 1 }, { ack: 'delivery' });
  await publisher.publish('greet.b', [1, 'two'], { ack: 'delivery' });

  const result = await sub.exited;
  expect(result.code).toBe(0);
  expect(result.stdout.split('\n')).toEqual(['greet.a {"n":1}', 'greet.b [1,"two"]', '']);
});

test('sub --json prints one object per line and acks messages that wait for processing', async () => {
  const broker = await t.start();
  const sub = cli(['sub', 'orders.>', '--count', '1', '--json', '--group', 'printers', '--url', broker.url]);
  await sub.line('stderr', /^subscribed to orders\.>/);

  const publisher = await t.client();
  const receipt = await publisher.publish('orders.eu.new', { sku: 'x' }, { ack: 'processing', timeout: 10_000 });
  expect(receipt).toMatchObject({ processed: 1, timedOut: false });

  const result = await sub.exited;
  expect(result.code).toBe(0);
  expect(JSON.parse(result.stdout)).toEqual({ topic: 'orders.eu.new', id: receipt.id, data: { sku: 'x' } });
});

test('sub closes cleanly on SIGINT', async () => {
  const broker = await t.start();
  const sub = cli(['sub', 'quiet.>', '--url', broker.url]);
  await sub.line('stderr', /^subscribed to quiet\.>$/);
  sub.child.kill('SIGINT');
  const result = await sub.exited;
  expect(result).toMatchObject({ code: 0, signal: null });
});

test('pub with invalid JSON says so and exits 2 without connecting', async () => {
  const broker = await t.start();
  const result = await run(['pub', 'cli.bad', '{not json', '--url', broker.url]);
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(/invalid JSON/);
  expect(result.stdout).toBe('');
});

test('a broker refusal is printed with its code and exits 1; an invalid topic is a usage error (2)', async () => {
  const broker = await t.start({ maxMessageBytes: 1024 });
  const tooLarge = await run(['pub', 'cli.big', JSON.stringify('x'.repeat(2_000)), '--url', broker.url]);
  expect(tooLarge.code).toBe(1);
  expect(tooLarge.stderr).toMatch(/^error MESSAGE_TOO_LARGE: payload of \d+ bytes exceeds maxMessageBytes \(1024\)\n$/);

  const badTopic = await run(['pub', 'bad..topic', '{}', '--url', broker.url]);
  expect(badTopic.code).toBe(2);
  expect(badTopic.stderr).toBe('error INVALID_TOPIC: invalid topic "bad..topic": has an empty token at position 1\n');
});

test('an unreachable broker gives a clear message and exit code 1', async () => {
  const url = `ws://127.0.0.1:${await freePort()}`;
  const pub = await run(['pub', 'cli.nobody', '{}', '--url', url]);
  expect(pub.code).toBe(1);
  expect(pub.stderr).toContain(`cannot reach broker at ${url}: `);

  const sub = await run(['sub', 'cli.nobody', '--url', url]);
  expect(sub.code).toBe(1);
  expect(sub.stderr).toContain(`cannot reach broker at ${url}: `);
});

test('serve --port 0 logs its URL, serves clients and exits 0 on SIGTERM', async () => {
  // At level error the broker still logs where it listens: with port 0 nothing else tells.
  const serve = cli(['serve', '--port', '0', '--log-level', 'error', '--memory']);
  const [line] = await serve.line('stdout', LISTENING_LINE);
  const url = listeningUrl(line);
  expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
  expect(JSON.parse(line)).toMatchObject({ level: 30, name: 'linden', msg: 'broker listening', version: LINDEN_VERSION, protocol: 1 });

  const client = await connect(url, { reconnect: false });
  await client.flush();
  await client.close();

  serve.child.kill('SIGTERM');
  const result = await serve.exited;
  expect(result).toMatchObject({ code: 0, signal: null, stderr: '' });
  expect(result.stdout).toBe(line + '\n'); // nothing else at level error
});
