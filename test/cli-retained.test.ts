/**
 * `linden retained [pattern]` (the admin API's /api/retained) and `linden retained clear <topic>`
 * (an empty publish with retain) against a live broker, as `npx linden` runs them.
 */
import { fileURLToPath } from 'node:url';
import { ChildTracker, type Exit } from './helpers/child-process.js';
import { requireBuilt } from './helpers/built.js';
import { take, testBroker } from './helpers/setup.js';

const MAIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const t = testBroker();
const children = new ChildTracker();

function run(args: string[], url = t.broker.url): Promise<Exit> {
  return children.spawn(MAIN, [...args, '--url', url], {}, ['LINDEN_URL']).exited;
}

beforeAll(() => {
  requireBuilt(MAIN);
});

afterEach(async () => {
  await children.killAll();
  await t.cleanup();
});

test('retained lists topic, size, mode and age as a table, or JSON lines, for a pattern', async () => {
  await t.start();
  const c = await t.client();
  await c.publish('status.door-1', 'online', { retain: true, mode: 'persistent', ack: 'submission' });
  await c.publish('status.door-2', 'offline', { retain: true, ack: 'submission' });
  await c.publish('other.x', 1, { retain: true, ack: 'submission' });

  const table = await run(['retained', 'status.*']);
  expect(table.code).toBe(0);
  const lines = table.stdout.trimEnd().split('\n').map((l) => l.trim().split(/\s{2,}/));
  expect(lines[0]).toEqual(['TOPIC', 'SIZE', 'MODE', 'RETAINED']);
  expect(lines.slice(1).map((r) => [r[0], r[2]])).toEqual([['status.door-1', 'persistent'], ['status.door-2', 'transient']]);
  expect(lines[1]![3]).toMatch(/ago$/);

  const json = await run(['retained', '--json']);
  expect(json.code).toBe(0);
  const rows = json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { topic: string; bytes: number; mode: string; time: number });
  expect(rows.map((r) => r.topic)).toEqual(['other.x', 'status.door-1', 'status.door-2']);
  expect(rows[1]).toMatchObject({ mode: 'persistent', bytes: expect.any(Number), time: expect.any(Number) });

  const none = await run(['retained', 'nothing.>']);
  expect([none.code, none.stdout]).toEqual([0, 'no retained messages\n']);
  const bad = await run(['retained', 'a..b']);
  expect(bad.code).toBe(2);
});

test('retained clear removes a topic\'s retained message; subscribers made later get nothing of it', async () => {
  await t.start();
  const c = await t.client();
  await c.publish('status.door-1', 'online', { retain: true, mode: 'persistent', ack: 'submission' });
  const cleared = await run(['retained', 'clear', 'status.door-1']);
  expect([cleared.code, cleared.stderr]).toEqual([0, 'cleared the retained message of status.door-1 (if it had one)\n']);
  const listed = await run(['retained', '--json']);
  expect(listed.stdout).toBe('');
  const sub = (await t.client()).subscribe('status.*', { retained: true });
  await sub.ready;
  await c.publish('status.marker', 'marker');
  expect((await take(sub, 1)).map((m) => [m.topic, m.retained])).toEqual([['status.marker', false]]);
  expect((await run(['retained', 'clear', 'status.*'])).code).toBe(2); // a pattern is no topic
});
