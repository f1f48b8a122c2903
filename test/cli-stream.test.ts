/** `linden stream create|delete|info` and `linden streams` (README "Replayable streams"). */
import { ChildTracker, type Exit } from './helpers/child-process.js';
import { CLI_MAIN } from './helpers/serve-process.js';
import { testBroker } from './helpers/setup.js';
import { requireBuilt } from './helpers/built.js';

const t = testBroker();
const children = new ChildTracker();

/** Runs the CLI; a developer's own LINDEN_URL must not steer the tests. */
function run(args: string[]): Promise<Exit> {
  return children.spawn(CLI_MAIN, args, {}, ['LINDEN_URL']).exited;
}

beforeAll(() => {
  requireBuilt(CLI_MAIN);
});
afterEach(async () => {
  await children.killAll();
  await t.cleanup();
});

test('stream create, info, streams and delete', async () => {
  const broker = await t.start();
  const url = ['--url', broker.url];
  const created = await run(['stream', 'create', 'audit', 'audit.>', '--max-messages', '2', '--discard', 'old', ...url]);
  expect(created).toMatchObject({ code: 0, stdout: '', stderr: 'stream audit keeps persistent messages on audit.>\n' });

  const c = await t.client();
  for (const n of [1, 2, 3]) await c.publish('audit.x', { n }, { mode: 'persistent', ack: 'submission' });
  const reader = c.subscribe('audit.>', { stream: 'audit', reader: 'r1' });
  await reader.ready;

  const info = await run(['stream', 'info', 'audit', '--json', ...url]);
  expect(info.code).toBe(0);
  expect(JSON.parse(info.stdout)).toMatchObject({ name: 'audit', firstSeq: 2, lastSeq: 3, messages: 2, readers: [{ name: 'r1', position: 2, connected: true }] });
  const text = await run(['stream', 'info', 'audit', ...url]);
  expect(text.stdout).toMatch(/^seqs:\s+2 \.\. 3$/m);
  expect(text.stdout).toMatch(/^r1\s+2\s+2\s+2\s+yes$/m);

  const list = await run(['streams', ...url]);
  expect(list.stdout).toMatch(/^NAME\s+PATTERN\s+FIRST\s+LAST\s+MESSAGES/m);
  expect(list.stdout).toMatch(/^audit\s+audit\.>\s+2\s+3\s+2\s/m);

  const missing = await run(['stream', 'info', 'nope', ...url]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain('stream "nope" does not exist on the broker at');

  const deleted = await run(['stream', 'delete', 'audit', ...url]);
  expect(deleted).toMatchObject({ code: 0, stderr: 'stream audit deleted\n' });
  expect((await run(['streams', '--json', ...url])).stdout).toBe('');
});

test('sub --stream replays from a start and follows; --reader acks what it prints, so its position moves on', async () => {
  const broker = await t.start();
  const url = ['--url', broker.url];
  const c = await t.client();
  await c.createStream('audit', 'audit.>');
  for (const n of [1, 2, 3]) await c.publish('audit.x', { n }, { mode: 'persistent', ack: 'submission' });

  const replay = await run(['sub', 'audit.>', '--stream', 'audit', '--start', '2', '--count', '2', ...url]);
  expect(replay).toMatchObject({ code: 0, stdout: '2 audit.x {"n":2}\n3 audit.x {"n":3}\n', stderr: 'subscribed to audit.> in stream audit\n' });

  const named = await run(['sub', 'audit.>', '--stream', 'audit', '--reader', 'r1', '--ack-wait', '60000', '--count', '3', '--json', ...url]);
  expect(named.code).toBe(0);
  expect(named.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([1, 2, 3]);
  const reader = (await c.streamInfo('audit')).readers.find((r) => r.name === 'r1');
  expect(reader).toMatchObject({ position: 4, connected: false });

  const bad = await run(['sub', 'audit.>', '--stream', 'audit', '--start', 'yesterday-ish', ...url]);
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toContain('--start');
  const needsReader = await run(['sub', 'audit.>', '--stream', 'audit', '--ack-wait', '100', ...url]);
  expect(needsReader.code).not.toBe(0);
  expect(needsReader.stderr).toContain('--ack-wait needs --reader');
  const missing = await run(['sub', 'audit.>', '--stream', 'nope', ...url]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain('stream "nope" does not exist on the broker at');
});
