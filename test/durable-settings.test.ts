/**
 * Who may change a durable subscription's settings, and when its `ok` may come (issue 20):
 * a consumer's `sub` attaches with the queue's settings and cannot change them (`qcreate` can),
 * and no `ok` about a queue comes before the write that created it is on disk. Raw frames, both
 * codecs, memory and LMDB stores (the store wrapped so its writes can be held back).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker, type Broker } from '../server/broker.js';
import type { CodecName } from '../protocol/version.js';
import { FaultyStore } from './helpers/faulty-store.js';
import { rawClients, type RawClient } from './helpers/raw-client.js';

const raw = rawClients();
let broker: Broker | undefined;
let store: FaultyStore | undefined;
let dataDir: string | undefined;

afterEach(async () => {
  store?.release();
  const violations = raw.violations();
  await raw.closeAll();
  await broker?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  broker = store = dataDir = undefined;
  expect(violations).toEqual([]);
});

async function start(kind: 'memory' | 'lmdb' = 'memory'): Promise<Broker> {
  if (kind === 'lmdb') dataDir = await mkdtemp(join(tmpdir(), 'linden-durable-settings-'));
  broker = await startBroker({ port: 0, logLevel: 'silent', ...(dataDir ? { dataDir } : {}) }, {
    wrapStore: (real) => (store = new FaultyStore(real)),
  });
  return broker;
}

async function view(name: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${broker!.url.replace(/^ws/, 'http')}/api/queues/${name}`);
  return (await res.json()) as Record<string, unknown>;
}

async function config(name: string): Promise<Record<string, unknown>> {
  return (await view(name)).config as Record<string, unknown>;
}

/** Nothing answers request `id` yet: every answer to what was sent before a ping has arrived by its pong. */
async function unanswered(c: RawClient, id: number): Promise<boolean> {
  await c.sync();
  return c.poll((m) => m.re === id) === undefined;
}

const CODECS: CodecName[] = ['json', 'msgpack'];

describe.each(CODECS)('%s', (codec) => {
  describe.each(['memory', 'lmdb'] as const)('no ok before the queue is stored (%s store)', (kind) => {
    test('qcreate and a durable sub on a queue whose creation is not on disk wait for it', async () => {
      await start(kind);
      const a = await raw.connect(broker!.url, codec);
      const b = await raw.connect(broker!.url, codec);
      store!.hold();
      a.send({ t: 'qcreate', id: 1, name: 'audit', pattern: 'audit.>' });
      await a.sync();
      expect(store!.holding).toBe(1);
      b.send({ t: 'qcreate', id: 2, name: 'audit', pattern: 'audit.>' });
      b.send({ t: 'sub', id: 3, sid: 1, pattern: 'audit.>', durable: 'audit' });
      expect(await unanswered(a, 1)).toBe(true);
      expect(await unanswered(b, 2)).toBe(true);
      expect(await unanswered(b, 3)).toBe(true);
      store!.release();
      expect(await a.reply(1)).toEqual({ t: 'ok', re: 1 });
      expect(await b.reply(2)).toEqual({ t: 'ok', re: 2 });
      expect(await b.reply(3)).toEqual({ t: 'ok', re: 3 });
      // Once it is stored, at once.
      expect(await b.call({ t: 'qcreate', id: 4, name: 'audit', pattern: 'audit.>' })).toEqual({ t: 'ok', re: 4 });
    });

    test('a queue record that failed to store is written again by the next request; a sub answered err leaves no consumer', async () => {
      await start(kind);
      const c = await raw.connect(broker!.url, codec);
      store!.failWrites((key) => key[0] === 'q');
      expect(await c.call({ t: 'qcreate', id: 1, name: 'audit', pattern: 'audit.>' })).toMatchObject({ t: 'err', code: 'INTERNAL_ERROR', re: 1 });
      expect(await c.call({ t: 'sub', id: 2, sid: 1, pattern: 'audit.>', durable: 'audit' })).toMatchObject({ t: 'err', code: 'INTERNAL_ERROR', re: 2 });
      expect(await view('audit')).toMatchObject({ consumers: 0 });
      store!.failWrites(undefined);
      expect(await c.call({ t: 'sub', id: 3, sid: 1, pattern: 'audit.>', durable: 'audit' })).toEqual({ t: 'ok', re: 3 });
      expect(await view('audit')).toMatchObject({ consumers: 1 });
      if (kind === 'memory') return;
      await raw.closeAll();
      await broker!.close();
      broker = await startBroker({ port: 0, logLevel: 'silent', dataDir });
      expect(await view('audit')).toMatchObject({ name: 'audit', pattern: 'audit.>' });
    });

    test('a sub that creates a dead-letter queue waits for it to be stored', async () => {
      await start(kind);
      const c = await raw.connect(broker!.url, codec);
      await c.call({ t: 'qcreate', id: 1, name: 'pay', pattern: 'pay.>', maxDeliveries: 1 });
      store!.hold();
      c.send({ t: 'sub', id: 2, sid: 1, pattern: '>', durable: 'pay.dlq' });
      expect(await unanswered(c, 2)).toBe(true);
      store!.release();
      expect(await c.reply(2)).toEqual({ t: 'ok', re: 2 });
    });

    test('the first sub of a dead-letter queue the broker just created waits for it to be stored', async () => {
      await start(kind);
      const c = await raw.connect(broker!.url, codec);
      await c.call({ t: 'qcreate', id: 3, name: 'job', pattern: 'job.>', maxDeliveries: 1 });
      await c.call({ t: 'sub', id: 4, sid: 2, pattern: 'job.>', durable: 'job' });
      expect((await c.call({ t: 'pub', id: 5, topic: 'job.x', data: c.data(1), mode: 'persistent', ack: 'submission' })).t).toBe('receipt');
      const msg = await c.next((m) => m.t === 'msg' && m.sid === 2);
      store!.hold();
      c.send({ t: 'nack', tag: msg.tag }); // its last delivery: to job.dlq, which is created
      c.send({ t: 'sub', id: 6, sid: 3, pattern: '>', durable: 'job.dlq' });
      expect(await unanswered(c, 6)).toBe(true);
      store!.release();
      expect(await c.reply(6)).toEqual({ t: 'ok', re: 6 });
    });
  });
});
