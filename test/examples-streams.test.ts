/**
 * examples/stream-replay.ts (README "Replayable streams"): a replay from a seq, and a named
 * reader that resumes where it stopped, run after run and across a restart of the broker.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildTracker } from './helpers/child-process.js';
import { exampleStarter, requireCompiledExample } from './helpers/examples.js';
import { testBroker } from './helpers/setup.js';

const t = testBroker();
const children = new ChildTracker();
const start = exampleStarter(t, children, []);
let dataDir: string;

beforeAll(() => requireCompiledExample('stream-replay.js'));
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'linden-example-streams-'));
  await t.start({ dataDir });
});
afterEach(async () => {
  await children.killAll();
  await t.cleanup();
  await rm(dataDir, { recursive: true, force: true });
});

async function run(args: string[] = []): Promise<string[]> {
  const r = await start('stream-replay.js', args).exited;
  expect({ stderr: r.stderr, code: r.code }).toEqual({ stderr: '', code: 0 });
  return r.stdout.trimEnd().split('\n');
}

test('the tour replays from a seq and shows a named reader resume where it stopped', async () => {
  expect(await run()).toEqual([
    'published 3',
    'replay: #2 s1 21°C',
    'replay: #3 s0 22°C',
    'reader tour-0: #1 s0 20°C',
    'reader tour-0: #2 s1 21°C',
    'reader tour-0: #3 s0 22°C',
    'published 2',
    'reader tour-0: #4 s0 20°C',
    'reader tour-0: #5 s1 21°C',
  ]);
});

test('a named reader keeps its position across runs and a restart of the broker', async () => {
  expect(await run(['publish', '2'])).toEqual(['published 2']);
  expect(await run(['reader', 'audit'])).toEqual(['reader audit: #1 s0 20°C', 'reader audit: #2 s1 21°C']);
  expect(await run(['reader', 'audit'])).toEqual(['reader audit: nothing new']);
  await t.cleanup();
  await t.start({ dataDir });
  expect(await run(['publish', '1'])).toEqual(['published 1']);
  expect(await run(['reader', 'audit'])).toEqual(['reader audit: #3 s0 20°C']);
  expect(await run(['replay', '2'])).toEqual(['replay: #2 s1 21°C', 'replay: #3 s0 20°C']);
});

test('bad arguments are a usage error', async () => {
  const r = await start('stream-replay.js', ['publish', 'many']).exited;
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/^usage: stream-replay\.js/);
});
