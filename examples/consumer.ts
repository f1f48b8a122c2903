/**
 * Consumer: takes orders from `orders.created` and processes each one.
 *
 * Consumers join the queue group `workers`, so every order goes to exactly one of them: start
 * as many as you like and they share the work. Each order is acked after it is handled; a
 * producer publishing with `ack: 'processing'` learns from its receipt that this happened.
 *
 * Run a broker, then one or more consumers, then the producer:
 *
 *   npm run build && npm start                    # terminal 1: broker on ws://127.0.0.1:7070
 *   node dist/examples/consumer.js                # terminal 2: runs until Ctrl-C
 *   node dist/examples/consumer.js 10             # or: exits after handling 10 orders
 *   node dist/examples/producer.js 10             # terminal 3
 *
 * LINDEN_URL points it at another broker. It prints `ready` once the broker has the
 * subscription in effect: orders published after that line are not missed.
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

const client = await connect(url, { name: 'example-consumer' });
// Ctrl-C closes the client, which ends the `for await` loop below normally.
process.once('SIGINT', () => void client.close());
process.once('SIGTERM', () => void client.close());

const orders = client.subscribe<Order>('orders.created', { group: 'workers' });
await orders.ready;
console.log('ready');

let handled = 0;
for await (const msg of orders) {
  const order = msg.data;
  console.log(`processed order #${order.id}: ${order.quantity} x ${order.item}`);
  // Acking after the work is done is what makes `processing` receipts mean something.
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
    console.error(`usage: consumer.js [count]  (count must be a positive integer, got "${arg}")`);
    process.exit(2);
  }
  return n;
}
