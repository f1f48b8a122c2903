import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ChildTracker } from './helpers/child-process.js';
import { atReadmeLines, exitWithin, printed, tsSamples, typeCheck, type Sample } from './helpers/readme-samples.js';
import { testBroker } from './helpers/setup.js';

// Every ```ts block of README.md is a complete program: this test type-checks them all in one tsc
// run against the package's own types (the samples import 'linden' and 'linden/server', which
// the package.json "exports" resolve to dist/: `npm run build` first), then runs each one twice,
// in README order, against one broker, as a reader copying them would. A sample that does not
// compile, fails, prints on stderr, or runs longer than RUN_LIMIT_MS fails its test.

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const SAMPLES = tsSamples(README);
const RUN_LIMIT_MS = 20_000;

/**
 * What each sample prints, by the heading it is under (`<heading> (2)` for a second sample under
 * one heading): the results its comments show. Every line listed must appear in its output, in
 * this order, other lines may come between; a string is a whole line.
 */
const PRINTS: Record<string, Array<string | RegExp>> = {
  'Using the client SDK': [
    'orders.eu.created 42',
    /^\{\s+id: '[^']+',\s+stage: 'processing',\s+receivers: 1,\s+delivered: 1,\s+processed: 1,\s+failed: 0,\s+dropped: 0,\s+timedOut: false,\s+missing: \[\],\s+rejected: \[\]\s+\}$/m,
    '5',
    'status: closed',
  ],
  'Persistent messages and durable subscriptions': [
    /^\{\s+id: '[^']+',\s+stage: 'submission',\s+receivers: 1,[^}]*queues: \[ 'billing' \]\s+\}$/m,
    'true',
    'Error: card declined',
    'charged 42 on attempt 2',
  ],
  'Replayable streams': [
    '2 2',
    '3 3',
    '1 3 3',
    "{ name: 'billing', position: 4, lag: 0, connected: false, unacked: 0 }",
  ],
  'Retained messages': ['status.door-1 online true', 'status.door-2 offline true', 'status.door-2 online false'],
  'Scheduled delivery': ['0 true', 'invoice 17 is due true', 'null', "[ 'retry', 'order-9' ]"],
  'Tuple spaces': [
    /^\{ id: '[^']+', expiresAt: null, ttl: null, shortened: false \}$/m,
    "[ 'resize', 'cat.png', 2 ]",
    "[ 'resize', 'dog.png', 3 ]",
    'null',
    "[ [ 'counter', 41 ], [ 'counter', 42 ] ]",
    'BATCH_FAILED',
    "1 out [ 'resize', 'cat.png', 2 ]",
    "2 out [ 'resize', 'dog.png', 3 ]",
    "3 in [ 'resize', 'cat.png', 2 ]",
    "4 in [ 'resize', 'dog.png', 3 ]",
  ],
  'Last wills': ['status.sensor-7 online', 'status.sensor-7 offline'],
  'Interceptors and large messages': ['INVALID_ARGUMENT this service only publishes orders'],
  'Running a broker': [/^ws:\/\/127\.0\.0\.1:\d+$/m],
  'Signals and drain': ['draining: true', 'on the second broker: true', 'hello from the second broker'],
  'Users and permissions': [
    'submission',
    "PERMISSION_DENIED { action: 'publish', subject: 'orders.secret.plans' }",
    'AUTH_FAILED',
  ],
};

const t = testBroker();
const children = new ChildTracker();
let dir: string;
let diagnostics: Map<string, string[]>;

function fileOf(sample: Sample): string {
  return `readme-${sample.line}.ts`;
}

function name(sample: Sample): string {
  return `README.md:${sample.line} (${sample.key})`;
}

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist/client-sdk/index.d.ts'))) {
    throw new Error('dist/ has no build of the package: run `npm run build` before this test');
  }
  // Inside the package, so that 'linden' resolves to the package itself (Node's self-reference
  // through "exports"), as it does for examples/; outside every folder tsconfig.json includes.
  dir = mkdtempSync(join(ROOT, '.readme-samples-'));
  for (const sample of SAMPLES) writeFileSync(join(dir, fileOf(sample)), sample.code);
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    extends: '../tsconfig.json',
    compilerOptions: { rootDir: '.', outDir: 'out', types: ['node'], declaration: false, sourceMap: false },
    include: ['*.ts'],
  }));
  [diagnostics] = await Promise.all([typeCheck(dir), t.start()]);
}, 120_000);

afterAll(async () => {
  await children.killAll();
  await t.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('README.md has the ts samples whose output this test checks, and no others', () => {
  // A new sample gets an entry in PRINTS (even an empty one); a moved one keeps its checks.
  expect(SAMPLES.map((s) => s.key).sort()).toEqual(Object.keys(PRINTS).sort());
});

test('every sample starts its own broker or connects to $LINDEN_URL, else the default ws://127.0.0.1:7070', () => {
  for (const sample of SAMPLES) {
    const connects = /\bconnect\(/.test(sample.code) && !/\bstartBroker\(/.test(sample.code);
    expect({ sample: name(sample), ok: !connects || sample.code.includes("process.env.LINDEN_URL ?? 'ws://127.0.0.1:7070'") })
      .toEqual({ sample: name(sample), ok: true });
  }
});

test('tsc reports nothing outside the samples', () => {
  expect(diagnostics.get('') ?? []).toEqual([]);
});

describe.each(SAMPLES.map((sample) => [name(sample), sample] as const))('%s', (_, sample) => {
  test('compiles, runs and exits, twice, printing what its comments say', async () => {
    expect(atReadmeLines(diagnostics.get(fileOf(sample)) ?? [], fileOf(sample), sample)).toEqual([]);
    const script = join(dir, 'out', fileOf(sample).replace(/\.ts$/, '.js'));
    for (const run of [1, 2]) {
      const what = `${name(sample)}, run ${run}`;
      const child = children.spawn(script, [], { LINDEN_URL: t.broker.url }, ['LINDEN_URL', 'NODE_OPTIONS']);
      const exit = await exitWithin(child, RUN_LIMIT_MS, what);
      if (exit.code !== 0 || exit.stderr !== '') {
        throw new Error(`${what} exited with ${exit.code ?? exit.signal}${exit.stderr ? ', printing on stderr' : ''}\n${printed(exit)}`);
      }
      expectInOrder(exit.stdout, PRINTS[sample.key] ?? [], what);
    }
  }, 2 * RUN_LIMIT_MS + 10_000);
});

test('Quick start: `npx linden --help` runs the CLI of the checkout', async () => {
  // A cache of its own, as on a fresh machine; offline, so a lookup in the registry fails
  // rather than fetching someone else's "linden"; no scripts, so npx does not rebuild dist/
  // (the `prepare` script) while other tests read it.
  const cache = mkdtempSync(join(tmpdir(), 'linden-npx-'));
  try {
    const { stdout } = await promisify(execFile)('npx', ['linden', '--help'], {
      cwd: ROOT,
      timeout: 60_000,
      env: { ...process.env, npm_config_cache: cache, npm_config_offline: 'true', npm_config_ignore_scripts: 'true', npm_config_update_notifier: 'false' },
    });
    expect(stdout).toMatch(/^Usage: linden /);
    for (const command of ['serve', 'pub', 'sub']) expect(stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}, 70_000);

/** Each expected line (a string is a whole line, a RegExp matches from where the previous one ended) in order. */
function expectInOrder(stdout: string, expected: Array<string | RegExp>, what: string): void {
  let from = 0;
  for (const e of expected) {
    const re = typeof e === 'string' ? new RegExp(`^${e.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm') : new RegExp(e.source, e.flags.includes('m') ? e.flags : e.flags + 'm');
    const m = re.exec(stdout.slice(from));
    if (!m) throw new Error(`${what} did not print ${typeof e === 'string' ? JSON.stringify(e) : String(e)}${from ? ' after what came before it' : ''}\n--- stdout ---\n${stdout}--------------`);
    from += m.index + m[0].length;
  }
}
