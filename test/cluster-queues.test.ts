import type { Message } from '../client-sdk/index.js';
import { testCluster } from './helpers/cluster.js';
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
});
