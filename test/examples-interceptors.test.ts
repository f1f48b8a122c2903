import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildTracker } from './helpers/child-process.js';
import { exampleStarter, requireCompiledExample } from './helpers/examples.js';
import { testBroker } from './helpers/setup.js';

const t = testBroker();
const children = new ChildTracker();
const start = exampleStarter(t, children, []);
let dir: string;

// Several fragments' worth (64 KiB each) and over the broker's 1 MiB frame limit: only fragmentation gets it through.
const FILE_BYTES = 8 * 1024 * 1024;

beforeAll(() => requireCompiledExample('file-sender.js'));

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'linden-examples-interceptors-'));
  await t.start();
});

afterEach(async () => {
  // A failed assertion can leave children running; none may outlive its test.
  await children.killAll();
  await t.cleanup();
  await rm(dir, { recursive: true, force: true });
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

test('an 8 MiB file reaches the receiver intact, and the sender learns it was saved', async () => {
  const source = join(dir, 'source.bin');
  const copy = join(dir, 'copy.bin');
  const bytes = randomBytes(FILE_BYTES);
  await writeFile(source, bytes);
  const hash = sha256(bytes);

  // URL and topic as arguments, as a user on another machine would give them.
  const receiver = start('file-receiver.js', [copy, 'uploads.test', t.broker.url]);
  await receiver.line('stdout', 'ready');
  const sender = await start('file-sender.js', [source, 'uploads.test', t.broker.url]).exited;
  expect(sender.stderr).toBe('');
  expect(sender.code).toBe(0);
  expect(sender.stdout.trimEnd()).toBe(`sent source.bin: ${FILE_BYTES} bytes, sha256 ${hash}; the receiver saved it`);

  const received = await receiver.exited;
  expect(received.stderr).toBe('');
  expect(received.code).toBe(0);
  expect(received.stdout.trimEnd().split('\n')).toEqual(['ready', `received source.bin: ${FILE_BYTES} bytes, sha256 ${hash} ok, saved to ${copy}`]);
  // The `processing` receipt came after the write: the file is complete by now.
  expect((await stat(copy)).size).toBe(FILE_BYTES);
  expect(sha256(await readFile(copy))).toBe(hash);
});

test('the sender exits 1 when no receiver is subscribed; both reject a missing path with exit code 2', async () => {
  const source = join(dir, 'small.bin');
  await writeFile(source, randomBytes(1000));
  // The broker comes from LINDEN_URL and the topic defaults to `files`.
  const alone = await start('file-sender.js', [source]).exited;
  expect(alone.code).toBe(1);
  expect(alone.stdout.trimEnd()).toBe('sent small.bin: 1000 bytes, not saved: no receiver subscribed to "files"');

  const runs = await Promise.all([start('file-sender.js').exited, start('file-receiver.js').exited]);
  for (const r of runs) {
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^usage: /);
  }
});

test('the compression interceptor deflates what shrinks, leaves the rest, and the subscriber gets it back intact', async () => {
  const run = await start('compression-interceptor.js').exited;
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const lines = run.stdout.trimEnd().split('\n');
  expect(lines).toHaveLength(3);
  const csv = /^reports\.csv: (\d+) bytes, deflated to (\d+) bytes \([\d.]+%\); received (\d+) bytes, intact$/.exec(lines[0]!);
  expect(csv).not.toBeNull();
  const [, original, deflated, received] = csv!.map(Number);
  expect(received).toBe(original);
  // Repetitive text shrinks well, and stays over one 64 KiB fragment: compression and fragmentation both ran.
  expect(deflated).toBeLessThan(original! / 2);
  expect(deflated).toBeGreaterThan(64 * 1024);
  expect(lines[1]).toBe('reports.small: 17 bytes, sent as is; received 17 bytes, intact');
  expect(lines[2]).toBe('reports.random: 65536 bytes, sent as is; received 65536 bytes, intact');
});
