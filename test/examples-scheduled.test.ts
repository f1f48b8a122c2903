/** examples/scheduled-reminders.ts against a real broker: every reminder but the cancelled one arrives, none early. */
import { ChildTracker } from './helpers/child-process.js';
import { exampleStarter, requireCompiledExample } from './helpers/examples.js';
import { testBroker } from './helpers/setup.js';

const t = testBroker();
const children = new ChildTracker();
const start = exampleStarter(t, children, []);

beforeAll(() => requireCompiledExample('scheduled-reminders.js'));
beforeEach(() => t.start());
afterEach(async () => {
  await children.killAll();
  await t.cleanup();
});

test('scheduled reminders arrive when due, never before; the cancelled one never', async () => {
  const run = await start('scheduled-reminders.js', ['4', '300']).exited;
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const lines = run.stdout.split('\n');
  expect(lines.filter((l) => l.includes('scheduled for'))).toHaveLength(4);
  expect(lines).toContain('reminder #4 cancelled');
  const arrived = lines.filter((l) => / arrived \d+ ms after its due time$/.test(l)).map((l) => Number(/#(\d+)/.exec(l)![1]));
  expect(arrived).toEqual([1, 2, 3]);
  expect(lines).toContain('delivered 3 reminders, none early, 1 cancelled');
});

test('a bad count is a usage error: one line, exit 2', async () => {
  const run = await start('scheduled-reminders.js', ['x']).exited;
  expect(run.code).toBe(2);
  expect(run.stdout).toBe('');
  expect(run.stderr.trim().split('\n')).toHaveLength(1);
});
