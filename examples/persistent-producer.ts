/**
 * Persistent producer: publishes orders that wait in a durable queue until a consumer takes
 * them, however much later it starts (see persistent-consumer.ts).
 *
 * It declares the queue `billing` on `orders.>` first, so orders published before any consumer
 * ever ran are kept. Each publish asks for ack `submission`: the receipt comes back once the
 * order is committed to the broker's disk, and names the queues that hold it. Run it with the
 * consumer stopped, restart the broker if you like, then start the consumer:
 *
 *   npm run build && npm start                    # terminal 1: broker, store in ./linden-data
 *   node dist/examples/persistent-producer.js 5   # exits once 5 orders are stored
 *   node dist/examples/persistent-consumer.js 5   # later: receives all 5, in order
 *
 * The count also comes from ORDER_COUNT (default 10), the broker from LINDEN_URL. Order ids are
 * used as message ids (`msgId`), so running the producer twice within the broker's dedupe
 * window stores each order once. It exits 1 if an order was stored in no queue.
 */
import { connect } from 'linden';
import { brokerUrl, reportFailures } from './run.js';

const QUEUE = 'billing';
const ITEMS = ['widget', 'gadget', 'sprocket', 'gizmo'];

reportFailures(); // an expected failure ends in one line on stderr and exit 1 or 2 (see run.ts)
const url = brokerUrl(); // LINDEN_URL, else ws://127.0.0.1:7070
const count = parseCount(process.argv[2] ?? process.env.ORDER_COUNT ?? '10');

const client = await connect(url, { name: 'example-persistent-producer' });
// Idempotent: creates the queue, or confirms the one the consumer declared has this pattern.
await client.createQueue(QUEUE, 'orders.>');

let unstored = 0;
for (let id = 1; id <= count; id++) {
  const order = { id, item: ITEMS[id % ITEMS.length], quantity: 1 + (id % 3) };
  const receipt = await client.publish('orders.created', order, { mode: 'persistent', ack: 'submission', msgId: `order-${id}` });
  const where = receipt.queues?.join(', ') || 'no queue';
  console.log(`order #${id}: ${receipt.duplicate ? 'already stored (duplicate msgId)' : `stored in ${where}`}`);
  if (!receipt.duplicate && (receipt.queues ?? []).length === 0) unstored++;
}

console.log(`published ${count} orders, ${count - unstored} stored`);
await client.close();
if (unstored > 0) process.exitCode = 1;

function parseCount(arg: string): number {
  const n = Number(arg);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`usage: persistent-producer.js [count]  (count must be a positive integer, got "${arg}")`);
    process.exit(2);
  }
  return n;
}
