/**
 * Scheduled delivery: reminders published now to be delivered later. Each is a persistent
 * message with a `delay`, stored by the broker at once (it would survive a restart of a broker
 * with a data folder) and routed to the durable queue `reminders` only when due. The last one
 * is cancelled by its id before it is due, so it never arrives. The consumer prints how late
 * each one came; none may come early.
 *
 *   npm run build && npm start                              # terminal 1: broker on ws://127.0.0.1:7070
 *   node dist/examples/scheduled-reminders.js [count] [ms]  # count reminders (default 3), the first due in ms (default 500)
 *
 * LINDEN_URL points it at another broker.
 */
import { connect, type Message } from 'linden';
import { brokerUrl, fail, reportFailures } from './run.js';

interface Reminder { n: number; due: number }

const QUEUE = 'reminders';
/** Between two reminders' due times. */
const STEP_MS = 100;

reportFailures(); // an expected failure ends in one line on stderr and exit 1 or 2 (see run.ts)
const count = Number(process.argv[2] ?? 3);
const firstMs = Number(process.argv[3] ?? 500);
if (!Number.isInteger(count) || count < 2 || count > 1_000) fail(`count must be an integer from 2 to 1000, not "${process.argv[2]}"`, 2);
if (!Number.isInteger(firstMs) || firstMs < 0 || firstMs > 60_000) fail(`ms must be an integer from 0 to 60000, not "${process.argv[3]}"`, 2);

const client = await connect(brokerUrl(), { name: 'example-reminders' });
try {
  await client.createQueue(QUEUE, 'reminders.>');
  const ids: string[] = [];
  for (let n = 1; n <= count; n++) {
    const delay = firstMs + (n - 1) * STEP_MS;
    // `due` in the payload too, so the consumer can check it against the arrival.
    const receipt = await client.publish('reminders.pay', { n, due: Date.now() + delay }, { mode: 'persistent', delay, ack: 'submission' });
    ids.push(receipt.id);
    console.log(`reminder #${n} scheduled for ${new Date(receipt.due!).toISOString()}`);
  }
  await client.cancelScheduled(ids[count - 1]!);
  console.log(`reminder #${count} cancelled`);

  let early = 0;
  let got = 0;
  for await (const msg of client.subscribe<Reminder>('reminders.>', { durable: QUEUE }) as AsyncIterable<Message<Reminder>>) {
    const late = Date.now() - msg.data.due;
    if (late < 0) early++;
    console.log(`reminder #${msg.data.n} arrived ${late >= 0 ? `${late} ms after` : `${-late} ms BEFORE`} its due time`);
    msg.ack();
    if (++got === count - 1) break;
  }
  if (early > 0) fail(`${early} reminders arrived early`);
  console.log(`delivered ${got} reminders, none early, 1 cancelled`);
} finally {
  await client.deleteQueue(QUEUE).catch(() => undefined);
  await client.close();
}
