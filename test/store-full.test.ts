/**
 * maxStoreBytes (issue 21): at the limit, what would grow the store is refused with STORE_FULL,
 * transient traffic goes on, nothing acknowledged is lost, and a purge gives the room back.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, LindenError, type Client } from '../client-sdk/index.js';
import { ChildTracker } from './helpers/child-process.js';
import { serveProcess } from './helpers/serve-process.js';
import { take, testBroker } from './helpers/setup.js';

const t = testBroker();
const children = new ChildTracker();
let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'linden-store-full-'));
});
afterEach(async () => {
  await t.cleanup();
  await children.killAll();
  await rm(dataDir, { recursive: true, force: true });
});

const LIMIT = 2 * 1024 * 1024;
const payload = new Uint8Array(1024).fill(1);

/** Publishes until the first STORE_FULL; returns how many were acknowledged and the error. */
async function fill(c: Client): Promise<{ acked: number; err: LindenError }> {
  let acked = 0;
  for (;;) {
    const batch = Array.from({ length: 64 }, () => c.publish('jobs.a', payload, { mode: 'persistent', ack: 'submission' }));
    const results = await Promise.allSettled(batch);
    for (const r of results) {
      if (r.status === 'fulfilled') acked++;
      else if (r.reason instanceof LindenError && r.reason.code === 'STORE_FULL') return { acked, err: r.reason };
      else throw r.reason;
    }
  }
}

async function depth(c: Client, name: string): Promise<number> {
  return ((await c.admin({ op: 'queue', name })) as { messages: number }).messages;
}

test('at maxStoreBytes persistent writes get STORE_FULL, transient ones go on, and a purge gives the room back', async () => {
  await t.start({ dataDir, maxStoreBytes: LIMIT });
  const c = await t.client();
  await c.createQueue('jobs', 'jobs.>');
  const live = c.subscribe('live.>');
  await live.ready;

  const { acked, err } = await fill(c);
  expect(acked).toBeGreaterThan(LIMIT / 2 / payload.length);
  expect(err.details).toMatchObject({ maxStoreBytes: LIMIT });
  expect(await depth(c, 'jobs')).toBe(acked); // every acknowledged message is there, no other

  // What would grow the store is refused; transient traffic and persistent publishes that reach no queue are not.
  await expect(c.createQueue('more', 'more.>')).rejects.toMatchObject({ code: 'STORE_FULL' });
  await expect(c.space('kept', { persistent: true }).out(['x'])).rejects.toMatchObject({ code: 'STORE_FULL' });
  await c.publish('live.a', 'still here');
  expect((await take(live, 1))[0]!.data).toBe('still here');
  await c.publish('nowhere.a', 1, { mode: 'persistent', ack: 'submission' });

  expect(await c.admin({ op: 'purge', name: 'jobs' })).toEqual({ purged: acked });
  await c.publish('jobs.a', payload, { mode: 'persistent', ack: 'submission' });
  await c.createQueue('more', 'more.>');
  expect(await depth(c, 'jobs')).toBe(1);
});

test('the default limit leaves room: a store on a disk with space takes writes', async () => {
  await t.start({ dataDir });
  const c = await t.client();
  await c.createQueue('jobs', 'jobs.>');
  await c.publish('jobs.a', payload, { mode: 'persistent', ack: 'submission' });
  expect(await depth(c, 'jobs')).toBe(1);
});

test('linden serve --max-store-bytes sets the limit', async () => {
  const { url } = await serveProcess(children, ['--data', dataDir, '--log-level', 'warn', '--max-store-bytes', '1']);
  const c = await connect(url);
  try {
    await expect(c.createQueue('jobs', 'jobs.>')).rejects.toMatchObject({ code: 'STORE_FULL', details: { maxStoreBytes: 1 } });
  } finally {
    await c.close();
  }
});
