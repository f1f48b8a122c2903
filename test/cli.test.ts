import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { connect } from '../client-sdk/index.js';
import { LINDEN_VERSION } from '../protocol/version.js';
import { take, testBroker } from './helpers/setup.js';

// The compiled CLI, exactly as `npx linden` runs it; `npm run build` must have run first.
const MAIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A CLI child process whose output is collected line by line. */
class Cli {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  private readonly text = { stdout: '', stderr: '' };
  private readonly waiters: Array<() => void> = [];
  private done = false;

  constructor(args: string[], env: Record<string, string> = {}) {
    const base = { ...process.env };
    delete base.LINDEN_URL; // a developer's own setting must not steer the tests
    this.child = spawn(process.execPath, [MAIN, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const name of ['stdout', 'stderr'] as const) {
      this.child[name]!.setEncoding('utf8');
      this.child[name]!.on('data', (chunk: string) => {
        this.text[name] += chunk;
        this.wake();
      });
    }
    this.exited = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      // 'close' comes after both pipes have ended, so all output is in by then.
      this.child.once('close', (code, signal) => {
        this.done = true;
        this.wake();
        resolve({ code, signal, ...this.text });
      });
    });
  }

  /** Resolves with the first complete line of `stream` matching `re`; rejects if the process ends first. */
  async line(stream: 'stdout' | 'stderr', re: RegExp): Promise<RegExpMatchArray> {
    for (;;) {
      const lines = this.text[stream].split('\n').slice(0, -1);
      for (const l of lines) {
        const m = l.match(re);
        if (m) return m;
      }
      if (this.done) throw new Error(`CLI exited without printing ${re} on ${stream}\nstdout: ${this.text.stdout}\nstderr: ${this.text.stderr}`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

const t = testBroker();
const running = new Set<Cli>();

function cli(args: string[], env?: Record<string, string>): Cli {
  const c = new Cli(args, env);
  running.add(c);
  return c;
}

/** Runs the CLI to completion. */
function run(args: string[], env?: Record<string, string>): Promise<Exit> {
  return cli(args, env).exited;
}

/** A port nothing listens on: taken from the OS, then released. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

beforeAll(() => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` before this test`);
});

afterEach(async () => {
  const children = [...running];
  running.clear();
  for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
  await Promise.all(children.map((c) => c.exited.catch(() => {})));
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

test('a LindenError is printed with its code and exits 1', async () => {
  const broker = await t.start();
  const result = await run(['pub', 'bad..topic', '{}', '--url', broker.url]);
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/^error INVALID_TOPIC: /);
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

test('serve --port 0 prints its URL, serves clients and exits 0 on SIGTERM', async () => {
  const serve = cli(['serve', '--port', '0', '--log-level', 'silent']);
  const [, url] = (await serve.line('stdout', /listening on (ws:\/\/\S+)$/)) as RegExpMatchArray;
  expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);

  const client = await connect(url!, { reconnect: false });
  await client.flush();
  await client.close();

  serve.child.kill('SIGTERM');
  const result = await serve.exited;
  expect(result).toMatchObject({ code: 0, signal: null });
});
