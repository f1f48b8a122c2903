import { fileURLToPath } from 'node:url';
import { ChildTracker, type Exit, type NodeChild } from './helpers/child-process.js';
import { requireBuilt } from './helpers/built.js';
import { sharedTestBroker } from './helpers/shared-brokers.js';

// The compiled CLI, exactly as `npx linden` runs it; `npm run build` must have run first.
const MAIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const ANY_JOB = '["job", {"$any": true}]';

// One broker per set of options for the file, each test on spaces of its own.
const t = sharedTestBroker();
const children = new ChildTracker();

/** Starts the CLI against the test broker; a developer's own LINDEN_URL must not steer the tests. */
function cli(args: string[]): NodeChild {
  return children.spawn(MAIN, [...args, '--url', t.broker.url], {}, ['LINDEN_URL']);
}

function run(args: string[]): Promise<Exit> {
  return cli(args).exited;
}

beforeAll(() => {
  requireBuilt(MAIN);
});

afterEach(async () => {
  await children.killAll();
  await t.cleanup();
});

test('--help lists out, in and rd', async () => {
  await t.start();
  const help = await run(['--help']);
  expect(help.code).toBe(0);
  for (const name of ['out', 'in', 'rd']) expect(help.stdout).toMatch(new RegExp(`^\\s+${name}\\b`, 'm'));
});

test('out prints the id; rd reads the tuple and leaves it; in takes it', async () => {
  await t.start();
  const written = await run(['out', 'jobs', '["job", 7, {"prio": "high"}]']);
  expect(written).toMatchObject({ code: 0, stderr: '' });
  expect(written.stdout).toMatch(/^\S+\n$/);

  const space = (await t.client()).space('jobs');
  const read = await run(['rd', 'jobs', '["job", {"$type": "number"}, {"$any": true}]']);
  // The tuple was there, so the command never waited and says nothing on stderr.
  expect(read).toMatchObject({ code: 0, stderr: '' });
  expect(JSON.parse(read.stdout)).toEqual(['job', 7, { prio: 'high' }]);
  const anyJob3 = ['job', { $any: true }, { $any: true }];
  expect(await space.count(anyJob3)).toBe(1);

  const taken = await run(['in', 'jobs', '["job", 7, {"$any": true}]']);
  expect(taken).toMatchObject({ code: 0, stderr: '' });
  expect(taken.stdout).toBe('["job",7,{"prio":"high"}]\n');
  expect(await space.count(anyJob3)).toBe(0);
});

test('out --ttl --json prints the lease; the lease end goes to stderr without --json', async () => {
  await t.start();
  const before = Date.now();
  const json = await run(['out', 'leases', '["a"]', '--ttl', '60000', '--json']);
  expect(json.code).toBe(0);
  const lease = JSON.parse(json.stdout);
  expect(lease).toMatchObject({ ttl: 60_000, shortened: false });
  expect(lease.expiresAt).toBeGreaterThanOrEqual(before + 60_000);

  const plain = await run(['out', 'leases', '["b"]', '--ttl', '60000']);
  expect(plain.code).toBe(0);
  expect(plain.stdout).toMatch(/^\S+\n$/);
  expect(plain.stderr).toMatch(/^lease ends \d{4}-\d\d-\d\dT\S+Z \(ttl 60000 ms\)\n$/);
});

test('in blocks until another out writes a match, then prints it and exits 0', async () => {
  await t.start();
  const taker = cli(['in', 'queue', '["task", {"$type": "string"}]']);
  // Printed once the broker has parked the request, so the out below cannot come too early.
  await taker.line('stderr', 'waiting on queue for ["task",{"$type":"string"}]');

  const writer = await run(['out', 'queue', '["task", "resize"]']);
  expect(writer.code).toBe(0);

  const result = await taker.exited;
  expect(result).toMatchObject({ code: 0, signal: null });
  expect(result.stdout).toBe('["task","resize"]\n');
  expect(await (await t.client()).space('queue').count(['task', { $any: true }])).toBe(0);
});

test('a blocked rd gets a copy written by the SDK and leaves the tuple in the space', async () => {
  await t.start();
  const reader = cli(['rd', 'config', '["mode", {"$any": true}]']);
  await reader.line('stderr', /^waiting on config /);

  const space = (await t.client()).space('config');
  await space.out(['mode', 'fast']);

  const result = await reader.exited;
  expect(result).toMatchObject({ code: 0, stdout: '["mode","fast"]\n' });
  expect(await space.count(['mode', { $any: true }])).toBe(1);
});

test('--timeout ends a wait without a match: nothing on stdout, a message on stderr, exit 3', async () => {
  await t.start();
  const waited = await run(['in', 'empty', ANY_JOB, '--timeout', '50']);
  expect(waited).toMatchObject({ code: 3, stdout: '' });
  expect(waited.stderr).toMatch(/^no tuple matches \["job",\{"\$any":true\}\] in empty within 50 ms$/m);

  // --timeout 0 tries once without waiting.
  const once = await run(['rd', 'empty', ANY_JOB, '--timeout', '0']);
  expect(once).toMatchObject({ code: 3, stdout: '' });
  expect(once.stderr).toMatch(/^no tuple matches /);
  expect(once.stderr).not.toMatch(/waiting/);
});

test('in --limit takes the oldest n, one per line; rd --all reads the rest; an empty --all exits 3', async () => {
  await t.start();
  const space = (await t.client()).space('batch');
  for (const n of [1, 2, 3]) await space.out(['job', n]);
  await space.out(['other', 0]);

  const taken = await run(['in', 'batch', ANY_JOB, '--limit', '2']);
  expect(taken).toMatchObject({ code: 0, stdout: '["job",1]\n["job",2]\n' });

  const rest = await run(['rd', 'batch', ANY_JOB, '--all']);
  expect(rest).toMatchObject({ code: 0, stdout: '["job",3]\n' });
  expect(await space.count(['job', { $any: true }])).toBe(1);

  await run(['in', 'batch', ANY_JOB, '--all']);
  const none = await run(['in', 'batch', ANY_JOB, '--all']);
  expect(none).toMatchObject({ code: 3, stdout: '' });
  expect(await space.count(['other', { $any: true }])).toBe(1);
});

test('SIGINT while in is blocked aborts the wait, exits 130 and takes nothing', async () => {
  await t.start();
  const taker = cli(['in', 'idle', ANY_JOB]);
  await taker.line('stderr', /^waiting on idle /);
  taker.child.kill('SIGINT');

  const result = await taker.exited;
  expect(result).toMatchObject({ code: 130, signal: null, stdout: '' });
  expect(result.stderr).toMatch(/^interrupted: no tuple taken$/m);

  const space = (await t.client()).space('idle');
  await space.out(['job', 1]);
  expect(await space.count(JSON.parse(ANY_JOB))).toBe(1);
});

test('bad arguments exit 2 without a stack trace', async () => {
  await t.start();
  const badJson = await run(['out', 'jobs', '["job", 1']);
  expect(badJson).toMatchObject({ code: 2, stdout: '' });
  expect(badJson.stderr).toMatch(/^invalid JSON in <json-tuple> argument: /);

  const notArray = await run(['in', 'jobs', '{"job": 1}']);
  expect(notArray).toMatchObject({ code: 2, stdout: '' });
  expect(notArray.stderr).toMatch(/<json-template> must be a non-empty JSON array/);

  const conflict = await run(['rd', 'jobs', ANY_JOB, '--all', '--timeout', '10']);
  expect(conflict.code).toBe(2);
  expect(conflict.stderr).toMatch(/cannot be used with/);

  for (const r of [badJson, notArray, conflict]) expect(r.stderr).not.toMatch(/\n\s+at /);
});

test('an invalid template or tuple is a usage error (2), found before connecting or by the broker', async () => {
  // maxArity 2: the one limit a broker is configured with; the CLI leaves it to the broker.
  await t.start({ maxArity: 2 });
  const local = await run(['in', 'jobs', '["job", {"$bogus": 1}]']);
  expect(local).toMatchObject({ code: 2, stdout: '' });
  expect(local.stderr).toBe('error INVALID_TEMPLATE: unknown operator "$bogus" (known: $any, $type, $range, $in, $regex, $eq)\n');

  const byBroker = await Promise.all([run(['rd', 'jobs', '[1, 2, 3]', '--timeout', '0']), run(['out', 'jobs', '[1, 2, 3]'])]);
  expect(byBroker.map((r) => [r.code, r.stderr])).toEqual([
    [2, 'error INVALID_TEMPLATE: a template has at most 2 fields, this one has 3\n'],
    [2, 'error INVALID_TUPLE: a tuple has at most 2 fields, this one has 3\n'],
  ]);
});
