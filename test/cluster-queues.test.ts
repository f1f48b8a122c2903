import type { Message } from '../client-sdk/index.js';
import { testQueueCluster as testCluster } from './helpers/cluster-queues.js';
import { take, until } from './helpers/setup.js';

const t = testCluster();
beforeEach(() => t.start());
afterEach(() => t.cleanup());

const numbers = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

describe('durable queues in a cluster (brokers sharing one Redis)', () => {
  test('a queue published to on one node is consumed on another, in order, acked once', async () => {
    const [a, b] = [await t.node(), await t.node()];
    const producer = await t.client(a);
    await producer.createQueue('billing', 'orders.>');
    for (const n of numbers(5)) {
      const r = await producer.publish('orders.eu', { n }, { mode: 'persistent', ack: 'submission' });
      expect(r).toMatchObject({ stage: 'submission', receivers: 1, queues: ['billing'] });
    }
    const consumer = await t.client(b);
    const first = consumer.subscribe<{ n: number }>('orders.>', { durable: 'billing' });
    const got = await take(first, 5);
    expect(got.map((m) => [m.data.n, m.deliveryCount])).toEqual(numbers(5).map((n) => [n, 1]));
    for (const m of got) m.ack();
    first.unsubscribe();
    await consumer.flush();
    // Acked on b: a consumer on a gets only what comes after.
    const other = await t.client(a);
    const sub = other.subscribe<{ n: number }>('orders.>', { durable: 'billing' });
    await sub.ready;
    await producer.publish('orders.eu', { n: 5 }, { mode: 'persistent', ack: 'submission' });
    const [next] = await take(sub as AsyncIterable<Message<{ n: number }>>, 1);
    expect(next!.data.n).toBe(5);
  });

  test('competing consumers on two nodes: every message once, none lost, whichever node published', async () => {
    const [a, b] = [await t.node(), await t.node()];
    const [pa, pb] = [await t.client(a), await t.client(b)];
    await pa.createQueue('work', 'jobs.>', { maxInFlight: 8 });
    const seen: number[] = [];
    const consume = async (broker: typeof a) => {
      const c = await t.client(broker);
      const sub = c.subscribe<{ n: number }>('jobs.>', { durable: 'work' });
      await sub.ready;
      return (async () => {
        for await (const m of sub) {
          seen.push(m.data.n);
          m.ack();
        }
      })();
    };
    void consume(a);
    void consume(b);
    const total = 200;
    await Promise.all(numbers(total).map((n) => (n % 2 ? pa : pb).publish(`jobs.${n}`, { n }, { mode: 'persistent', ack: 'submission' })));
    await until(() => seen.length >= total, 15_000);
    expect([...seen].sort((x, y) => x - y)).toEqual(numbers(total));
  }, 30_000);

  test('a nack on one node is redelivered on either; past maxDeliveries it is a dead letter, read from another node', async () => {
    const [a, b] = [await t.node(), await t.node()];
    const c = await t.client(a);
    const sub = c.subscribe<{ n: number }>('pay.>', { durable: 'pay', maxDeliveries: 2 });
    await sub.ready;
    await (await t.client(b)).publish('pay.eu', { n: 7 }, { mode: 'persistent', ack: 'submission' });
    const [first] = await take(sub, 1);
    expect(first!.deliveryCount).toBe(1);
    first!.nack('bad card');
    const [second] = await take(sub, 1);
    expect([second!.data.n, second!.deliveryCount, second!.redelivered]).toEqual([7, 2, true]);
    second!.nack('bad card again');
    const dead = (await t.client(b)).subscribe<{ n: number }>('>', { durable: 'pay.dlq' });
    const [m] = await take(dead, 1);
    expect(m).toMatchObject({ topic: 'pay.eu', data: { n: 7 }, deliveryCount: 1 });
    m!.ack();
  });

  test('a nack with a delay waits it out before the redelivery', async () => {
    const a = await t.node();
    const c = await t.client(a);
    const sub = c.subscribe<{ n: number }>('slow.>', { durable: 'slow', ackWait: 5_000 });
    await sub.ready;
    await c.publish('slow.x', { n: 1 }, { mode: 'persistent', ack: 'submission' });
    const [m] = await take(sub, 1);
    const nacked = Date.now();
    m!.nack({ delay: 300 });
    const [again] = await take(sub, 1);
    expect(Date.now() - nacked).toBeGreaterThanOrEqual(290);
    expect(again!.deliveryCount).toBe(2);
    // Longer than ackWait: parked on this node, and not claimed by any node's sweep before it ends.
    const arrivals: { dc: number; at: number }[] = [];
    const other = (await t.client(await t.node())).subscribe('slow.>', { durable: 'slow', callback: (m) => { arrivals.push({ dc: m.deliveryCount, at: Date.now() }); } });
    await other.ready;
    void (async () => {
      for await (const m of sub) {
        arrivals.push({ dc: m.deliveryCount, at: Date.now() });
        m.ack();
      }
    })();
    const renacked = Date.now();
    again!.nack({ delay: 5_600 });
    await until(() => arrivals.length > 0, 10_000);
    expect(arrivals[0]!.at - renacked).toBeGreaterThanOrEqual(5_590);
    expect(arrivals[0]!.dc).toBe(3);
  }, 20_000);

  test('a publisher message id is deduplicated across nodes', async () => {
    const [a, b] = [await t.node(), await t.node()];
    const [pa, pb] = [await t.client(a), await t.client(b)];
    await pa.createQueue('once', 'pay.>');
    const first = await pa.publish('pay.x', { n: 1 }, { mode: 'persistent', ack: 'submission', mid: 'order-42' });
    expect(first).toMatchObject({ queues: ['once'] });
    expect(first).not.toHaveProperty('duplicate');
    const again = await pb.publish('pay.x', { n: 1 }, { mode: 'persistent', ack: 'submission', mid: 'order-42' });
    expect(again).toMatchObject({ duplicate: true, receivers: 0 });
    await pb.publish('pay.x', { n: 2 }, { mode: 'persistent', ack: 'submission', mid: 'order-43' });
    const got = await take((await t.client(b)).subscribe<{ n: number }>('pay.>', { durable: 'once' }), 2);
    expect(got.map((m) => m.data.n)).toEqual([1, 2]);
  });

  test('processing receipts for a publisher on the consumer\'s node; a queue deleted on one node ends its consumers on the others', async () => {
    const [a, b] = [await t.node(), await t.node()];
    const c = await t.client(a);
    const sub = c.subscribe<{ n: number }>('audit.>', { durable: 'audit' });
    await sub.ready;
    const receipt = c.publish('audit.x', { n: 1 }, { mode: 'persistent', ack: 'processing' });
    const [m] = await take(sub, 1);
    m!.ack();
    expect(await receipt).toMatchObject({ stage: 'processing', receivers: 1, processed: 1, queues: ['audit'], timedOut: false });
    await (await t.client(b)).deleteQueue('audit');
    await expect(take(sub, 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(c.publish('audit.x', { n: 2 }, { mode: 'persistent', ack: 'submission' })).resolves.toMatchObject({ receivers: 0 });
  });

  test('QUEUE_FULL with overflow reject, counted over the whole cluster', async () => {
    const [a, b] = [await t.node(), await t.node()];
    await (await t.client(a)).createQueue('small', 'small.>', { maxMessages: 2 });
    const pb = await t.client(b);
    for (const n of numbers(2)) await pb.publish('small.x', { n }, { mode: 'persistent', ack: 'submission' });
    await expect((await t.client(a)).publish('small.x', { n: 2 }, { mode: 'persistent', ack: 'submission' })).rejects.toMatchObject({ code: 'QUEUE_FULL' });
  });

  test('drop-oldest trims entries a consumer holds: they are not delivered again once their ackWait ends', async () => {
    const a = await t.node();
    const c = await t.client(a);
    const sub = c.subscribe<{ n: number }>('ring.>', { durable: 'ring', maxMessages: 2, overflow: 'drop-oldest', maxInFlight: 1, ackWait: 300 });
    await sub.ready;
    await c.publish('ring.x', { n: 0 }, { mode: 'persistent', ack: 'submission' });
    const [held] = await take(sub, 1); // held, never acked
    for (const n of numbers(3, 1)) await c.publish('ring.x', { n }, { mode: 'persistent', ack: 'submission' });
    // 0 (pending) and 1 were trimmed; after 0's ackWait the consumer has room for 2, then 3.
    const after: number[] = [];
    for (const m of await take(sub, 1)) after.push(m.data.n), m.ack();
    for (const m of await take(sub, 1)) after.push(m.data.n), m.ack();
    expect([held!.data.n, ...after]).toEqual([0, 2, 3]);
  });

  test('?wait=N in the URL: a persistent publish no replica confirmed gets STORE_UNAVAILABLE, not a receipt', async () => {
    const a = await t.node({}, '?wait=1&waitTimeout=100');
    const c = await t.client(a);
    await c.createQueue('replicated', 'r.>');
    await expect(c.publish('r.x', { n: 1 }, { mode: 'persistent', ack: 'submission', mid: 'r-1' })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    // Stored all the same (Redis has it; its replicas did not confirm): the retry is a duplicate.
    expect(await c.publish('r.x', { n: 1 }, { mode: 'persistent', ack: 'submission', mid: 'r-1' })).toMatchObject({ duplicate: true });
  });

  test('a draining node starts no delivery and waits for those in flight; the other nodes take the rest', async () => {
    const [a, b] = [await t.node(), await t.node()];
    const ca = await t.client(a, { reconnect: false });
    const onA = ca.subscribe<{ n: number }>('drain.>', { durable: 'drainq' });
    await onA.ready;
    const pb = await t.client(b);
    await pb.publish('drain.x', { n: 0 }, { mode: 'persistent', ack: 'submission' });
    const [held] = await take(onA, 1);
    let drained = false;
    const draining = a.drain({ timeoutMs: 10_000 }).then(() => { drained = true; });
    await pb.publish('drain.x', { n: 1 }, { mode: 'persistent', ack: 'submission' });
    const onB = (await t.client(b)).subscribe<{ n: number }>('drain.>', { durable: 'drainq' });
    const [next] = await take(onB, 1);
    expect(next!.data.n).toBe(1);
    expect(drained).toBe(false); // still waiting for the delivery a holds
    held!.ack();
    await draining;
    t.brokers.splice(t.brokers.indexOf(a), 1);
    next!.ack();
  });
});

