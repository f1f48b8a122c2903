/**
 * `linden scheduled` (GET /api/scheduled) and `linden scheduled cancel <id>` (`unschedule` over
 * WebSocket), run as the built CLI against a real broker, as cli-admin.test.ts does.
 */
import { fileURLToPath } from 'node:url';
import { requireBuilt } from './helpers/built.js';
import { ChildTracker, type Exit } from './helpers/child-process.js';
import { testBroker } from './helpers/setup.js';

const MAIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const t = testBroker();
const children = new ChildTracker();

function run(args: string[], url = t.broker.url): Promise<Exit> {
  return children.spawn(MAIN, [...args, '--url', url], {}, ['LINDEN_URL']).exited;
}

beforeAll(() => requireBuilt(MAIN));
afterEach(async () => {
  await children.killAll();
  await t.cleanup();
});

test('lists scheduled publishes and outs soonest first, as a table and as JSON lines; cancel removes one', async () => {
  await t.start();
  const c = await t.client();
  const empty = await run(['scheduled']);
  expect(empty).toMatchObject({ code: 0, stdout: 'nothing scheduled\n' });

  const later = await c.publish('reports.daily', 'x'.repeat(100), { delay: 120_000, mode: 'persistent', ack: 'submission' });
  const sooner = await c.publish('reports.hourly', 'y', { delay: 60_000, ack: 'submission' });
  const lease = await c.space('jobs').out(['run'], { delay: 90_000 });

  const table = await run(['scheduled']);
  expect(table.code).toBe(0);
  const lines = table.stdout.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^ID\s+KIND\s+TOPIC\/SPACE\s+DUE\s+MODE\s+BYTES$/);
  expect(lines.slice(1).map((l) => l.trim().split(/\s{2,}/).slice(0, 3))).toEqual([
    [sooner.id, 'pub', 'reports.hourly'], [lease!.id, 'out', 'jobs'], [later.id, 'pub', 'reports.daily'],
  ]);
  expect(lines[3]).toContain(new Date(later.due!).toISOString());
  expect(lines[3]).toContain('persistent');

  const json = await run(['scheduled', '--json']);
  const rows = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; mode: string; bytes: number });
  expect(rows.map((r) => [r.id, r.mode])).toEqual([[sooner.id, 'transient'], [lease!.id, 'transient'], [later.id, 'persistent']]);

  const cancelled = await run(['scheduled', 'cancel', later.id]);
  expect(cancelled).toMatchObject({ code: 0, stdout: '', stderr: `scheduled ${later.id} cancelled\n` });
  const again = await run(['scheduled', 'cancel', later.id]);
  expect(again.code).toBe(1);
  expect(again.stderr).toContain('NOT_SCHEDULED');
  // A message id of the client's own may begin with -: after --, it is the id, not an option.
  const dashed = await children.spawn(MAIN, ['scheduled', 'cancel', '--url', t.broker.url, '--', '-mine-1'], {}, ['LINDEN_URL']).exited;
  expect(dashed.code).toBe(1);
  expect(dashed.stderr).toContain('NOT_SCHEDULED');
  expect((await run(['scheduled', '--json'])).stdout.trim().split('\n')).toHaveLength(2);
});

test('linden pub --delay and --deliver-at schedule a publish and print its receipt with the id and due time', async () => {
  await t.start();
  const before = Date.now();
  const delayed = await run(['pub', 'cli.later', '{"n": 1}', '--delay', '60000', '--persistent']);
  expect(delayed.code).toBe(0);
  const receipt = JSON.parse(delayed.stdout) as { id: string; stage: string; receivers: number; due: number };
  expect(receipt).toMatchObject({ stage: 'submission', receivers: 0 });
  expect(receipt.due).toBeGreaterThanOrEqual(before + 60_000);
  const at = await run(['pub', 'cli.later', '2', '--deliver-at', '2099-01-01T00:00:00Z'], t.broker.url);
  expect(at.code).toBe(1);
  expect(at.stderr).toContain('SCHEDULE_TOO_FAR');
  const bad = await run(['pub', 'cli.later', '2', '--deliver-at', 'tomorrow']);
  expect(bad.code).toBe(2);
  const rows = (await run(['scheduled', '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; mode: string; target: string });
  expect(rows).toEqual([expect.objectContaining({ id: receipt.id, mode: 'persistent', target: 'cli.later' })]);
});
