import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Message } from '../client-sdk/index.js';
import { take, testBroker, until } from './helpers/setup.js';

const t = testBroker();
let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'linden-durable-'));
});
afterEach(async () => {
  await t.cleanup();
  await rm(dataDir, { recursive: true, force: true });
});

const orders = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ n: from + i }));

for (const store of ['memory', 'lmdb'] as const) {
  describe(`durable subscriptions (${store} store)`, () => {
    const start = (extra = {}) => t.start(store === 'lmdb' ? { dataDir, ...extra } : extra);

    test('persistent messages wait for a consumer that is not there yet, in order', async () => {
      await start();
      const producer = await t.client();
      await producer.createQueue('billing', 'orders.>');
      for (const o of orders(5)) {
        const r = await producer.publish('orders.eu', o, { mode: 'persistent', ack: 'submission' });
        expect(r).toMatchObject({ stage: 'submission', receivers: 1, queues: ['billing'] });
      }
      await producer.publish('orders.eu', { n: 99 }, { ack: 'submission' }); // transient: nobody is there
      const consumer = await t.client();
      const sub = consumer.subscribe<{ n: number }>('orders.>', { durable: 'billing' });
      const got = await take(sub, 5);
      expect(got.map((m) => m.data.n)).toEqual([0, 1, 2, 3, 4]);
      expect(got.map((m) => [m.deliveryCount, m.redelivered])).toEqual(Array(5).fill([1, false]));
      for (const m of got) m.ack();
      await consumer.flush();
      sub.unsubscribe();
      const second = (await t.client()).subscribe('orders.>', { durable: 'billing' });
      await second.ready;
      await producer.publish('orders.eu', { n: 5 }, { mode: 'persistent', ack: 'submission' });
      const [next] = await take(second as AsyncIterable<Message<{ n: number }>>, 1);
      expect([next!.data.n]).toEqual([5]); // acked ones are gone
    });

    test('an ack followed at once by leaving the subscription is not overtaken by the unsubscribe', async () => {
      await start();
      const c = await t.client();
      await c.createQueue('once-each', 'tick.>', { maxInFlight: 1 });
      for (const o of orders(2)) await c.publish('tick.x', o, { mode: 'persistent', ack: 'submission' });
      for await (const m of c.subscribe<{ n: number }>('tick.>', { durable: 'once-each' })) {
        m.ack();
        break; // unsubscribes in the same tick as the ack
      }
      const [next] = await take(c.subscribe<{ n: number }>('tick.>', { durable: 'once-each' }), 1);
      expect([next!.data.n, next!.deliveryCount]).toEqual([1, 1]);
    });

    test('consumers of one durable name compete; nack redelivers, with a delay when asked', async () => {
      await start();
      const a = (await t.client()).subscribe<{ n: number }>('jobs.*', { durable: 'work', maxInFlight: 1 });
      const b = (await t.client()).subscribe<{ n: number }>('jobs.*', { durable: 'work', maxInFlight: 1 });
      await Promise.all([a.ready, b.ready]);
      const p = await t.client();
      for (const o of orders(2)) await p.publish('jobs.x', o, { mode: 'persistent', ack: 'submission' });
      const [fromA] = await take(a, 1);
      const [fromB] = await take(b, 1);
      expect([fromA!.data.n, fromB!.data.n].sort()).toEqual([0, 1]);
      fromB!.ack();
      fromA!.nack({ delay: 30 });
      const again = await Promise.race([take(a, 1), take(b, 1)]);
      expect(again[0]).toMatchObject({ deliveryCount: 2, redelivered: true });
      expect(again[0]!.data).toEqual(fromA!.data);
      again[0]!.ack();
    });

    test('an ack deadline that passes redelivers; working() extends it; a disconnect redelivers', async () => {
      await start();
      const p = await t.client();
      await p.createQueue('slow', 'slow.>', { ackWait: 500 });
      const c1 = await t.client();
      const sub = c1.subscribe<{ n: number }>('slow.>', { durable: 'slow' });
      await sub.ready;
      await p.publish('slow.a', { n: 1 }, { mode: 'persistent', ack: 'submission' });
      const [first] = await take(sub, 1);
      const [timedOut] = await take(sub, 1); // not acked within ackWait
      expect([first!.deliveryCount, timedOut!.deliveryCount]).toEqual([1, 2]);
      // n=2 is delivered after n=1's redelivery, so its deadline is later than n=1's; working()
      // on n=1 once n=2 has arrived moves n=1's deadline past n=2's. Whatever the machine's
      // speed, n=2 must then come back first.
      await p.publish('slow.b', { n: 2 }, { mode: 'persistent', ack: 'submission' });
      const [other] = await take(sub, 1);
      expect(other!.data.n).toBe(2);
      timedOut!.working();
      const again = await take(sub, 2);
      expect(again.map((m) => [m.data.n, m.deliveryCount])).toEqual([[2, 2], [1, 3]]);
      await c1.close();
      const c2 = (await t.client()).subscribe<{ n: number }>('slow.>', { durable: 'slow' });
      const back = await take(c2, 2);
      expect(back.map((m) => m.data.n).sort()).toEqual([1, 2]);
    });

    test('after maxDeliveries a message moves to <name>.dlq, which is consumed like any queue', async () => {
      await start();
      const c = await t.client();
      const sub = c.subscribe<{ n: number }>('pay.>', { durable: 'pay', maxDeliveries: 2 });
      await sub.ready;
      await c.publish('pay.eu', { n: 7 }, { mode: 'persistent', ack: 'submission' });
      for (const m of await take(sub, 1)) m.nack('bad card');
      for (const m of await take(sub, 1)) m.nack('bad card again');
      const dead = c.subscribe<{ n: number }>('pay.>', { durable: 'pay.dlq' });
      const [m] = await take(dead, 1);
      expect(m).toMatchObject({ topic: 'pay.eu', data: { n: 7 }, deliveryCount: 1 });
      m!.ack();
    });

    test('ttl, overflow policies and dedupe', async () => {
      await start();
      const c = await t.client();
      await c.createQueue('small', 'small.>', { maxMessages: 2 });
      await c.createQueue('ring', 'ring.>', { maxMessages: 2, overflow: 'drop-oldest' });
      for (const o of orders(2)) await c.publish('small.x', o, { mode: 'persistent', ack: 'submission' });
      await expect(c.publish('small.x', { n: 2 }, { mode: 'persistent', ack: 'submission' })).rejects.toMatchObject({ code: 'QUEUE_FULL' });
      for (const o of orders(3)) await c.publish('ring.x', o, { mode: 'persistent', ack: 'submission' });
      const ring = c.subscribe<{ n: number }>('ring.>', { durable: 'ring' });
      expect((await take(ring, 2)).map((m) => m.data.n)).toEqual([1, 2]);

      await c.createQueue('ttl', 'ttl.>');
      await c.publish('ttl.x', { n: 1 }, { mode: 'persistent', ack: 'submission', ttl: 20 });
      // The broker stamps the message before it acknowledges it, so its ttl ends at most 20 ms after
      // this point, however long the publish took on a busy machine.
      const acked = Date.now();
      await c.publish('ttl.x', { n: 2 }, { mode: 'persistent', ack: 'submission' });
      await until(() => Date.now() > acked + 40);
      expect((await take(c.subscribe<{ n: number }>('ttl.>', { durable: 'ttl' }), 1)).map((m) => m.data.n)).toEqual([2]);

      // An expired message leaves at once: it no longer holds the only place of a full queue.
      // (A ttl that outlasts two LMDB commits on a busy machine, so the queue is still full for the second publish.)
      await c.createQueue('one', 'one.>', { maxMessages: 1 });
      const before = Date.now();
      // The ttl leaves the next publish ample time to find the queue full on a slow machine.
      await c.publish('one.x', { n: 1 }, { mode: 'persistent', ack: 'submission', ttl: 1_000 });
      await expect(c.publish('one.x', { n: 2 }, { mode: 'persistent', ack: 'submission' })).rejects.toMatchObject({ code: 'QUEUE_FULL' });
      // Polls the broker's own count rather than guessing when its timer ran.
      while (((await c.admin({ op: 'queue', name: 'one' })) as { expired: number }).expired < 1) {
        if (Date.now() > before + 10_000) throw new Error('the message never expired');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await c.publish('one.x', { n: 3 }, { mode: 'persistent', ack: 'submission' });

      await c.createQueue('once', 'once.>');
      const first = await c.publish('once.x', { n: 1 }, { mode: 'persistent', ack: 'submission', msgId: 'order-1' });
      const repeat = await c.publish('once.x', { n: 1 }, { mode: 'persistent', ack: 'submission', msgId: 'order-1' });
      expect([first.duplicate, repeat.duplicate]).toEqual([undefined, true]);
      const once = c.subscribe('once.>', { durable: 'once' });
      const [only] = await take(once, 1);
      only!.ack();
      await c.publish('once.x', { n: 2 }, { mode: 'persistent', ack: 'submission' });
      expect((await take(once as AsyncIterable<Message<{ n: number }>>, 1))[0]!.data.n).toBe(2);
    });

    test('delivery and processing count a durable subscription as a receiver, consumers or not', async () => {
      await start();
      const c = await t.client();
      await c.createQueue('audit', 'audit.>');
      const pending = await c.publish('audit.x', { n: 1 }, { mode: 'persistent', ack: 'processing', timeout: 200 });
      expect(pending).toMatchObject({ receivers: 1, processed: 0, timedOut: true, missing: [{ queue: 'audit' }] });
      const sub = (await t.client()).subscribe<{ n: number }>('audit.>', { durable: 'audit', callback: () => {} });
      await sub.ready;
      const done = await c.publish('audit.x', { n: 2 }, { mode: 'persistent', ack: 'processing', timeout: 5_000 });
      expect(done).toMatchObject({ receivers: 1, delivered: 1, processed: 1, timedOut: false, missing: [] });
      const held = (await t.client()).subscribe('held.>', { durable: 'held' }); // receives (rcv), never acks
      await held.ready;
      const got = await c.publish('held.x', 1, { mode: 'persistent', ack: 'delivery', timeout: 5_000 });
      expect(got).toMatchObject({ stage: 'delivery', receivers: 1, delivered: 1, processed: 0, timedOut: false, queues: ['held'] });
    });

    test('bad declarations get typed errors; deleteQueue removes a queue and its messages', async () => {
      await start();
      const c = await t.client();
      await c.createQueue('q1', 'a.>');
      await expect(c.createQueue('q1', 'b.>')).rejects.toMatchObject({ code: 'QUEUE_CONFLICT' });
      await expect(c.createQueue('bad name', 'a.>')).rejects.toMatchObject({ code: 'INVALID_FRAME' });
      await expect(c.createQueue('q2', 'a..b')).rejects.toMatchObject({ code: 'INVALID_PATTERN' });
      await expect(c.deleteQueue('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(c.publish('a.b', 1, { ack: 'submission', ttl: 5 })).rejects.toMatchObject({ code: 'INVALID_FRAME' });
      // The store cannot key on control characters: refused before anything is stored.
      await expect(c.publish('a.b', 0, { mode: 'persistent', ack: 'submission', msgId: 'bad\u0001id' })).rejects.toMatchObject({ code: 'INVALID_FRAME' });
      await c.publish('a.b', 1, { mode: 'persistent', ack: 'submission' });
      await c.deleteQueue('q1');
      const r = await c.publish('a.b', 2, { mode: 'persistent', ack: 'submission' });
      expect(r.receivers).toBe(0);
    });
  });
}

describe('durable subscriptions across restarts (lmdb)', () => {
  test('queues, messages and delivery counts survive a restart', async () => {
    await t.start({ dataDir });
    const c = await t.client();
    const sub = c.subscribe<{ n: number }>('orders.>', { durable: 'billing', maxDeliveries: 10 });
    await sub.ready;
    for (const o of orders(3)) await c.publish('orders.eu', o, { mode: 'persistent', ack: 'submission' });
    const got = await take(sub, 3);
    got[0]!.ack(); // n=0 done; n=1 and n=2 delivered once, not acked
    await c.flush();
    await t.cleanup();

    await t.start({ dataDir });
    const again = (await t.client()).subscribe<{ n: number }>('orders.>', { durable: 'billing' });
    const back = await take(again, 2);
    expect(back.map((m) => [m.data.n, m.deliveryCount, m.redelivered])).toEqual([[1, 2, true], [2, 2, true]]);
  });
});
