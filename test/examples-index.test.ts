/**
 * examples/README.md is the index a newcomer starts from (issue 16): it names every example,
 * names only examples that exist, and every example is run by a test. The cluster example runs
 * here, against two `linden serve --redis` processes on a redis-server of the test's own.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ChildTracker } from './helpers/child-process.js';
import { EXAMPLES, requireCompiledExample } from './helpers/examples.js';
import { RedisServer } from './helpers/redis-server.js';
import { serveProcess } from './helpers/serve-process.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const index = readFileSync(`${ROOT}examples/README.md`, 'utf8');
/** Every example program: examples/*.ts but the shared helper. */
const programs = readdirSync(`${ROOT}examples`).filter((f) => f.endsWith('.ts') && f !== 'run.ts').map((f) => f.slice(0, -3));
const testSources = readdirSync(`${ROOT}test`).filter((f) => f.endsWith('.test.ts')).map((f) => readFileSync(`${ROOT}test/${f}`, 'utf8'));

test('the index links every example and runs each with a command from dist/examples', () => {
  for (const name of programs) {
    expect(index).toContain(`(${name}.ts)`);
    expect(index).toContain(`dist/examples/${name}.js`);
  }
});

test('the index names no example that does not exist', () => {
  const named = [...index.matchAll(/dist\/examples\/([\w-]+)\.js/g)].map((m) => m[1]!);
  const linked = [...index.matchAll(/\]\(([\w-]+)\.ts\)/g)].map((m) => m[1]!);
  for (const name of [...named, ...linked]) expect(programs).toContain(name);
});

test('a test runs every example', () => {
  for (const name of programs) {
    const runs = testSources.some((source) => source.includes(`'${name}.js'`));
    expect({ name, runs }).toEqual({ name, runs: true });
  }
  // The browser pages the broker serves under /examples/, run in Chromium (test/console.test.ts).
  for (const page of readdirSync(`${ROOT}examples/browser`)) {
    expect(index).toContain(`(browser/${page})`);
    const runs = testSources.some((source) => source.includes(`/examples/${page}`));
    expect({ page, runs }).toEqual({ page, runs: true });
  }
});

describe('cluster-pair.js', () => {
  const children = new ChildTracker();
  let redis: RedisServer;
  beforeAll(async () => {
    requireCompiledExample('cluster-pair.js');
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await children.killAll();
    await redis.destroy();
  });

  test('a publish, an out and a stream append on broker B reach a subscriber, an in and a stream reader on broker A', async () => {
    const [a, b] = await Promise.all([0, 1].map(() => serveProcess(children, ['--memory', '--redis', redis.url, '--log-level', 'warn'])));
    const run = await children.spawn(`${EXAMPLES}cluster-pair.js`, [a!.url, b!.url], {}, ['LINDEN_URL', 'NODE_OPTIONS']).exited;
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('A received greetings.hello: hello from B (published on B, delivered to 1)\nA took ["resize", "cat.png"] written on B\nA replayed "logged on B" from stream pair-log (appended on B)\n');
  }, 60_000);

  test('without two URLs it prints its usage and exits 2', async () => {
    const run = await children.spawn(`${EXAMPLES}cluster-pair.js`, [], {}, ['LINDEN_URL', 'NODE_OPTIONS']).exited;
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('cluster-pair.js: usage: cluster-pair.js <url of broker A> <url of broker B>\n');
  });
});
