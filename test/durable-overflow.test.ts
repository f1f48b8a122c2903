/**
 * A full `drop-oldest` queue (protocol.md §9.3) takes each publish in constant work: deciding that
 * a message fits once the oldest ready ones are dropped must not walk the ready messages (issue
 * 20). The rate itself is measured by bench/drop-oldest.ts.
 */
import type { Message } from '../client-sdk/index.js';
import { SeqHeap } from '../server/pubsub/durable/seq-heap.js';
import { take, testBroker } from './helpers/setup.js';

const t = testBroker();
afterEach(() => t.cleanup());

/** Counts the walks over every ready message of any queue while `during` runs. */
async function countWalks(during: () => Promise<void>): Promise<number> {
  const values = SeqHeap.prototype.values;
  let walks = 0;
  SeqHeap.prototype.values = function (this: SeqHeap<never>) {
    walks++;
    return values.call(this);
  };
  try {
    await during();
  } finally {
    SeqHeap.prototype.values = values;
  }
  return walks;
}

test('a publish into a full drop-oldest queue drops the oldest ready message without walking the others', async () => {
  await t.start();
  const c = await t.client();
  await c.createQueue('ring', 'ring.>', { maxMessages: 2_000, overflow: 'drop-oldest' });
  const publish = (n: number) => c.publish('ring.x', n, { mode: 'persistent', ack: 'submission' });
  for (let i = 0; i < 2_000; i += 500) await Promise.all(Array.from({ length: 500 }, (_, k) => publish(i + k)));

  const walks = await countWalks(async () => {
    await Promise.all(Array.from({ length: 300 }, (_, k) => publish(2_000 + k)));
  });
  expect(walks).toBe(0);

  const res = await fetch(`${t.broker.url.replace(/^ws/, 'http')}/api/queues/ring`);
  expect(await res.json()).toMatchObject({ messages: 2_000, depth: 2_000, dropped: 300, bytes: 2_000 * 3 });
  const [first] = await take(c.subscribe<number>('ring.>', { durable: 'ring' }) as AsyncIterable<Message<number>>, 1);
  expect(first!.data).toBe(300);
});

test('bytes count toward maxBytes through drops, deliveries and returns to the line', async () => {
  await t.start();
  const c = await t.client();
  // Payloads of 10 bytes (a MessagePack str of 9 characters): room for 5.
  await c.createQueue('bytes', 'bytes.>', { maxBytes: 50, overflow: 'drop-oldest', maxInFlight: 1 });
  const body = (n: number) => `message-${n}`;
  for (let n = 0; n < 5; n++) await c.publish('bytes.x', body(n), { mode: 'persistent', ack: 'submission' });
  const sub = c.subscribe<string>('bytes.>', { durable: 'bytes' });
  const [held] = await take(sub, 1);
  expect(held!.data).toBe(body(0));
  // message-0 is in flight, so it cannot be dropped: 1 to 4 go.
  for (let n = 5; n < 9; n++) await c.publish('bytes.x', body(n), { mode: 'persistent', ack: 'submission' });
  sub.unsubscribe(); // message-0 is back in line, first: the oldest ready message again
  await c.publish('bytes.x', body(9), { mode: 'persistent', ack: 'submission' });
  const res = await fetch(`${t.broker.url.replace(/^ws/, 'http')}/api/queues/bytes`);
  expect(await res.json()).toMatchObject({ messages: 5, depth: 5, bytes: 50, dropped: 5 });
  const rest: Message<string>[] = [];
  for await (const m of c.subscribe<string>('bytes.>', { durable: 'bytes' })) {
    rest.push(m);
    m.ack();
    if (rest.length === 5) break;
  }
  expect(rest.map((m) => m.data)).toEqual([5, 6, 7, 8, 9].map(body));
});
