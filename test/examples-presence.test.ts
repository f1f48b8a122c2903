/**
 * examples/presence.ts (README "Last wills"): a member process killed with SIGKILL is announced
 * offline by its will; one that leaves with close() announces itself, and its will is dropped.
 */
import { ChildTracker } from './helpers/child-process.js';
import { exampleStarter, requireCompiledExample } from './helpers/examples.js';
import { testBroker } from './helpers/setup.js';

const t = testBroker();
const children = new ChildTracker();
const start = exampleStarter(t, children, ['WILL_DELAY_MS']);

beforeAll(() => requireCompiledExample('presence.js'));
beforeEach(() => t.start());
afterEach(async () => {
  await children.killAll();
  await t.cleanup();
});

test('a killed member is announced by its will, a member that leaves by itself', async () => {
  const demo = await start('presence.js').exited;
  expect(demo.stderr).toBe('');
  expect(demo.code).toBe(0);
  expect(demo.stdout).toBe('sensor-7: online\nsensor-7: offline (lost)\nsensor-8: online\nsensor-8: offline\n');
}, 30_000);

test('with WILL_DELAY_MS the will of a killed member comes after the delay', async () => {
  const watcher = await t.client();
  const sub = watcher.subscribe<string>('status.sensor-9');
  await sub.ready;
  const started = performance.now();
  const member = await start('presence.js', ['member', 'sensor-9', 'crash'], { WILL_DELAY_MS: '500' }).exited;
  expect(member.signal).toBe('SIGKILL');
  const got: string[] = [];
  for await (const msg of sub) {
    got.push(msg.data);
    if (got.length === 2) break;
  }
  expect(got).toEqual(['online', 'offline (lost)']);
  expect(performance.now() - started).toBeGreaterThanOrEqual(500);
}, 30_000);

test('a bad WILL_DELAY_MS is a usage error', async () => {
  const run = await start('presence.js', ['member', 'x'], { WILL_DELAY_MS: 'soon' }).exited;
  expect(run.code).toBe(2);
  expect(run.stderr).toBe('presence.js: WILL_DELAY_MS must be a whole number of ms, not "soon"\n');
});
