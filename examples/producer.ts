/**
 * Producer: publishes orders to `orders.created` and reports how far each one got.
 *
 * The producer knows nothing about who consumes the orders. It asks the broker to wait for a
 * synchronisation point and prints the receipt's counts:
 *   - `processing` (default): resolves once a consumer acked the order;
 *   - `delivery`: resolves once the order was written to a consumer's connection.
 * A queue group counts as one receiver, so with consumers in `workers` each order expects 1.
 *
 *   npm run build && npm start                    # terminal 1: broker on ws://127.0.0.1:7070
 *   node dist/examples/consumer.js                # terminal 2
 *   node dist/examples/producer.js [count] [processing|delivery]   # terminal 3
 *
 * The count also comes from ORDER_COUNT (default 10), the sync point from ORDER_ACK, the broker
 * from LINDEN_URL. It exits 1 if an order reached no consumer, so scripts can tell.
 */
import { connect, type Receipt } from 'linden';
import { brokerUrl, reportFailures } from './run.js';

type SyncPoint = 'processing' | 'delivery';

const ITEMS = ['widget', 'gadget', 'sprocket', 'gizmo'];
// Bounds each wait; without a consumer the receipt would otherwise wait for the broker default.
const RECEIPT_TIMEOUT_MS = 5_000;

reportFailures(); // an expected failure ends in one line on stderr and exit 1 or 2 (see run.ts)
const url = brokerUrl(); // LINDEN_URL, else ws://127.0.0.1:7070
const count = parseCount(process.argv[2] ?? process.env.ORDER_COUNT ?? '10');
const ack = parseSyncPoint(process.argv[3] ?? process.env.ORDER_ACK ?? 'processing');

const client = await connect(url, { name: 'example-producer' });

let unhandled = 0;
for (let id = 1; id <= count; id++) {
  const order = { id, item: ITEMS[id % ITEMS.length], quantity: 1 + (id % 3) };
  // Awaiting each receipt keeps the example simple; a busy producer would keep several in flight.
  const receipt = await client.publish('orders.created', order, { ack, timeout: RECEIPT_TIMEOUT_MS });
  console.log(`order #${id}: ${describe(receipt)}`);
  if (reached(receipt) === 0) unhandled++;
}

console.log(`published ${count} orders, ${count - unhandled} ${ack === 'processing' ? 'processed' : 'delivered'}`);
await client.close();
if (unhandled > 0) process.exitCode = 1;

function reached(receipt: Receipt): number {
  return ack === 'processing' ? receipt.processed : receipt.delivered;
}

function describe(r: Receipt): string {
  const counts = `receivers=${r.receivers} delivered=${r.delivered} processed=${r.processed} failed=${r.failed} dropped=${r.dropped}`;
  return r.timedOut ? `${counts} (timed out waiting for ${r.missing.length})` : counts;
}

function parseCount(arg: string): number {
  const n = Number(arg);
  if (!Number.isInteger(n) || n < 1) usage(`count must be a positive integer, got "${arg}"`);
  return n;
}

function parseSyncPoint(arg: string): SyncPoint {
  if (arg !== 'processing' && arg !== 'delivery') usage(`sync point must be "processing" or "delivery", got "${arg}"`);
  return arg;
}

function usage(problem: string): never {
  console.error(`usage: producer.js [count] [processing|delivery]  (${problem})`);
  process.exit(2);
}
