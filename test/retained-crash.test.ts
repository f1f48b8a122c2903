/**
 * Persistent retained messages under SIGKILL (issue 17): a broker in a child process (`linden
 * serve --data`) takes a stream of persistent retained publishes on a few topics and is killed
 * while they flow; restarted on the same folder, each topic's retained value must be the last
 * one acknowledged or a later one that was sent (a publish in flight at the kill may or may not
 * have reached the disk), never an older one; transient retained values are gone.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Client, type Message } from '../client-sdk/index.js';
import { requireBuilt } from './helpers/built.js';
import { ChildTracker } from './helpers/child-process.js';
import { CLI_MAIN, serveProcess } from './helpers/serve-process.js';
import { take, until } from './helpers/setup.js';

const TOPICS = 5;
const IN_FLIGHT = 16;
const KILL_AFTER = 400;
const children = new ChildTracker();
let dataDir: string;
const clients: Client[] = [];

beforeAll(() => {
  requireBuilt(CLI_MAIN);
});
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'linden-retained-crash-'));
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await children.killAll();
  await rm(dataDir, { recursive: true, force: true });
});

test('after a SIGKILL each topic retains the last acknowledged value or a later one sent, and no transient one', async () => {
  const args = ['--data', dataDir, '--log-level', 'warn'];
  const first = await serveProcess(children, args);
  const pub = await connect(first.url, { reconnect: false });
  clients.push(pub);
  await pub.publish('rc.memory', 'transient', { retain: true, ack: 'submission' });

  const acked = new Array<number>(TOPICS).fill(-1);
  const sent = new Array<number>(TOPICS).fill(-1);
  let receipts = 0;
  let next = 0;
  let failed = 0;
  // A window of publishes outstanding, so the kill always finds some unanswered.
  const publishOne = (): void => {
    const value = next++;
    const topic = value % TOPICS;
    sent[topic] = value;
    pub.publish(`rc.t${topic}`, value, { retain: true, mode: 'persistent', ack: 'submission' }).then(() => {
      acked[topic] = Math.max(acked[topic]!, value);
      receipts++;
      if (receipts === KILL_AFTER) first.child.child.kill('SIGKILL');
      else if (receipts < KILL_AFTER) publishOne();
    }, () => failed++);
  };
  for (let i = 0; i < IN_FLIGHT; i++) publishOne();
  await first.child.exited;
  await until(() => receipts + failed === next);

  const second = await serveProcess(children, args);
  const sub = await connect(second.url, { reconnect: false });
  clients.push(sub);
  const retained = sub.subscribe<number>('rc.>', { retained: true });
  await retained.ready;
  await sub.publish('rc.zz', -2); // a live marker after the snapshot
  const got: Message<number>[] = await take(retained, TOPICS + 1);
  expect(got.map((m) => [m.topic, m.retained])).toEqual([
    ...Array.from({ length: TOPICS }, (_, i) => [`rc.t${i}`, true]), ['rc.zz', false],
  ]);
  for (let i = 0; i < TOPICS; i++) {
    const value = got[i]!.data;
    expect(value).toBeGreaterThanOrEqual(acked[i]!);
    expect(value).toBeLessThanOrEqual(sent[i]!);
    expect(value % TOPICS).toBe(i);
  }
}, 60_000); // two broker starts and a load: on a busy machine more than jest's 30 s
