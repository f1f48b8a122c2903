/**
 * Who may change a durable subscription's settings, and when its `ok` may come (issue 20):
 * a consumer's `sub` attaches with the queue's settings and cannot change them (`qcreate` can),
 * and no `ok` about a queue comes before the write that created it is on disk. Raw frames, both
 * codecs, memory and LMDB stores (the store wrapped so its writes can be held back).
 */
import type { CodecName } from '../protocol/version.js';
import { faultyBrokers } from './helpers/faulty-store.js';
import type { RawClient } from './helpers/raw-client.js';

const suite = faultyBrokers('linden-durable-settings-');
const { raw, start, view } = suite;

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
  describe('a consumer attaches with the settings of the queue; only qcreate changes them', () => {
    test('a sub naming other settings of an existing queue is QUEUE_CONFLICT and changes nothing', async () => {
      await start();
      const owner = await raw.connect(suite.broker.url, codec);
      expect(await owner.call({ t: 'qcreate', id: 1, name: 'billing', pattern: 'orders.>', ackWait: 60_000, maxInFlight: 10 })).toEqual({ t: 'ok', re: 1 });
      const before = await config('billing');

      const other = await raw.connect(suite.broker.url, codec);
      const refused = await other.call({ t: 'sub', id: 1, sid: 1, pattern: 'orders.>', durable: 'billing', ackWait: 1 });
      expect(refused).toMatchObject({
        t: 'err', code: 'QUEUE_CONFLICT', re: 1, details: { name: 'billing', setting: 'ackWait', value: 60_000 },
      });
      expect(refused.message).toContain('qcreate');
      const overflow = await other.call({ t: 'sub', id: 2, sid: 1, pattern: 'orders.>', durable: 'billing', overflow: 'drop-oldest' });
      expect(overflow).toMatchObject({ code: 'QUEUE_CONFLICT', details: { setting: 'overflow', value: 'reject' } });
      expect(await config('billing')).toEqual(before);

      // The refused sub left nothing behind: its sid is free, the queue has no consumer.
      expect(await other.call({ t: 'sub', id: 3, sid: 1, pattern: 'orders.>', durable: 'billing' })).toEqual({ t: 'ok', re: 3 });
      // Settings equal to the queue's, a default included, attach too.
      expect(await other.call({ t: 'sub', id: 4, sid: 2, pattern: 'orders.>', durable: 'billing', ackWait: 60_000, maxDeliveries: 5 })).toEqual({ t: 'ok', re: 4 });
      expect(await config('billing')).toEqual(before);

      // Management changes them.
      expect(await owner.call({ t: 'qcreate', id: 2, name: 'billing', pattern: 'orders.>', ackWait: 5_000 })).toEqual({ t: 'ok', re: 2 });
      expect(await config('billing')).toEqual({ ...before, ackWait: 5_000 });
    });

    test('a sub that creates the queue sets its settings', async () => {
      await start();
      const c = await raw.connect(suite.broker.url, codec);
      expect(await c.call({ t: 'sub', id: 1, sid: 1, pattern: 'jobs.>', durable: 'jobs', maxInFlight: 3, overflow: 'drop-oldest' })).toEqual({ t: 'ok', re: 1 });
      expect(await config('jobs')).toMatchObject({ maxInFlight: 3, overflow: 'drop-oldest', ackWait: 30_000 });
    });

    test('dead-letter queues: created by a sub with its settings, refused other settings once they exist', async () => {
      await start();
      const c = await raw.connect(suite.broker.url, codec);
      await c.call({ t: 'qcreate', id: 1, name: 'pay', pattern: 'pay.>' });
      expect(await c.call({ t: 'sub', id: 2, sid: 1, pattern: '>', durable: 'pay.dlq', ackWait: 9_000 })).toEqual({ t: 'ok', re: 2 });
      expect(await config('pay.dlq')).toMatchObject({ ackWait: 9_000 });
      expect(await c.call({ t: 'sub', id: 3, sid: 2, pattern: '>', durable: 'pay.dlq', ackWait: 1 })).toMatchObject({
        code: 'QUEUE_CONFLICT', details: { name: 'pay.dlq', setting: 'ackWait', value: 9_000 },
      });
      expect(await c.call({ t: 'sub', id: 4, sid: 2, pattern: '>', durable: 'pay.dlq' })).toEqual({ t: 'ok', re: 4 });
      expect(await c.call({ t: 'qcreate', id: 5, name: 'pay.dlq', pattern: '>', ackWait: 1_000 })).toEqual({ t: 'ok', re: 5 });
      expect(await config('pay.dlq')).toMatchObject({ ackWait: 1_000 });
    });
  });

  describe.each(['memory', 'lmdb'] as const)('no ok before the queue is stored (%s store)', (kind) => {
    test('qcreate and a durable sub on a queue whose creation is not on disk wait for it', async () => {
      await start(kind);
      const a = await raw.connect(suite.broker.url, codec);
      const b = await raw.connect(suite.broker.url, codec);
      suite.store.hold();
      a.send({ t: 'qcreate', id: 1, name: 'audit', pattern: 'audit.>' });
      await a.sync();
      expect(suite.store.holding).toBe(1);
      b.send({ t: 'qcreate', id: 2, name: 'audit', pattern: 'audit.>' });
      b.send({ t: 'sub', id: 3, sid: 1, pattern: 'audit.>', durable: 'audit' });
      expect(await unanswered(a, 1)).toBe(true);
      expect(await unanswered(b, 2)).toBe(true);
      expect(await unanswered(b, 3)).toBe(true);
      suite.store.release();
      expect(await a.reply(1)).toEqual({ t: 'ok', re: 1 });
      expect(await b.reply(2)).toEqual({ t: 'ok', re: 2 });
      expect(await b.reply(3)).toEqual({ t: 'ok', re: 3 });
      // Once it is stored, at once.
      expect(await b.call({ t: 'qcreate', id: 4, name: 'audit', pattern: 'audit.>' })).toEqual({ t: 'ok', re: 4 });
    });

    test('a queue record that failed to store is written again by the next request; a sub answered err leaves no consumer', async () => {
      await start(kind);
      const c = await raw.connect(suite.broker.url, codec);
      suite.store.failWrites((key) => key[0] === 'q');
      expect(await c.call({ t: 'qcreate', id: 1, name: 'audit', pattern: 'audit.>' })).toMatchObject({ t: 'err', code: 'INTERNAL_ERROR', re: 1 });
      expect(await c.call({ t: 'sub', id: 2, sid: 1, pattern: 'audit.>', durable: 'audit' })).toMatchObject({ t: 'err', code: 'INTERNAL_ERROR', re: 2 });
      expect(await view('audit')).toMatchObject({ consumers: 0 });
      suite.store.failWrites(undefined);
      expect(await c.call({ t: 'sub', id: 3, sid: 1, pattern: 'audit.>', durable: 'audit' })).toEqual({ t: 'ok', re: 3 });
      expect(await view('audit')).toMatchObject({ consumers: 1 });
      if (kind === 'memory') return;
      await raw.closeAll();
      await suite.restart();
      expect(await view('audit')).toMatchObject({ name: 'audit', pattern: 'audit.>' });
    });

    test('a sub that creates a dead-letter queue waits for it to be stored', async () => {
      await start(kind);
      const c = await raw.connect(suite.broker.url, codec);
      await c.call({ t: 'qcreate', id: 1, name: 'pay', pattern: 'pay.>', maxDeliveries: 1 });
      suite.store.hold();
      c.send({ t: 'sub', id: 2, sid: 1, pattern: '>', durable: 'pay.dlq' });
      expect(await unanswered(c, 2)).toBe(true);
      suite.store.release();
      expect(await c.reply(2)).toEqual({ t: 'ok', re: 2 });
    });

    test('the first sub of a dead-letter queue the broker just created waits for it to be stored', async () => {
      await start(kind);
      const c = await raw.connect(suite.broker.url, codec);
      await c.call({ t: 'qcreate', id: 3, name: 'job', pattern: 'job.>', maxDeliveries: 1 });
      await c.call({ t: 'sub', id: 4, sid: 2, pattern: 'job.>', durable: 'job' });
      expect((await c.call({ t: 'pub', id: 5, topic: 'job.x', data: c.data(1), mode: 'persistent', ack: 'submission' })).t).toBe('receipt');
      const msg = await c.next((m) => m.t === 'msg' && m.sid === 2);
      suite.store.hold();
      c.send({ t: 'nack', tag: msg.tag }); // its last delivery: to job.dlq, which is created
      c.send({ t: 'sub', id: 6, sid: 3, pattern: '>', durable: 'job.dlq' });
      expect(await unanswered(c, 6)).toBe(true);
      suite.store.release();
      expect(await c.reply(6)).toEqual({ t: 'ok', re: 6 });
    });
  });
});
