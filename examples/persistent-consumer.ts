/**
 * Persistent consumer: takes the orders waiting in the durable queue `billing` (filled by
 * persistent-producer.ts), including every one published while it was not running.
 *
 * A durable subscription outlives its consumers: the broker keeps each order until a consumer
 * acks it, and hands out orders oldest first. Start several consumers and they compete for the
 * orders. An order delivered but not acked (the consumer crashed, or lost its connection) is
 * delivered again; `deliveryCount` says how often, so the work should tolerate a repeat.
 *
 *   npm run build && npm start                    # terminal 1: broker, store in ./linden-data
 *   node dist/examples/persistent-producer.js 5   # any time before or after
 *   node dist/examples/persistent-consumer.js 5   # exits after 5 orders
 *   node dist/examples/persistent-consumer.js     # or: runs until Ctrl-C
 *
 * LINDEN_URL points it at another broker.
 */
import { connect } from 'linden';
import { brokerUrl, reportFailures } from './run.js';

/** What the producer publishes; the broker does not care, this is an agreement between the two. */
interface Order {
  id: number;
  item: string;
  quantity: number;
}

reportFailures(); // an expected failure ends in one line on stderr and exit 1 or 2 (see run.ts)
const url = brokerUrl(); // LINDEN_URL, else ws://127.0.0.1:7070
const limit = parseLimit(process.argv[2]);

const client = await connect(url, { name: 'example-persistent-consumer' });
// Ctrl-C closes the client, which ends the `for await` loop below normally; unacked orders stay queued.
process.once('SIGINT', () => void client.close());
process.once('SIGTERM', () => void client.close());

// Same name and pattern as the producer's declaration: whoever comes first creates the queue.
const orders = client.subscribe<Order>('orders.>', { durable: 'billing' });
await orders.ready;
console.log('ready');

let handled = 0;
for await (const msg of orders) {
  const order = msg.data;
  const again = msg.redelivered ? ` (delivery ${msg.deliveryCount})` : '';
  console.log(`processed order #${order.id}: ${order.quantity} x ${order.item}${again}`);
  // Acked after the work is done: only now does the broker forget the order.
  msg.ack();
  if (++handled === limit) break; // leaving the loop unsubscribes
}

console.log(`handled ${handled} orders`);
await client.close();

/** The optional count argument: a positive integer, or undefined to run until interrupted. */
function parseLimit(arg: string | undefined): number | undefined {
  if (arg === undefined) return undefined;
  const n = Number(arg);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`usage: persistent-consumer.js [count]  (count must be a positive integer, got "${arg}")`);
    process.exit(2);
  }
  return n;
}
