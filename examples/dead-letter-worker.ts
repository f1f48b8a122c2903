/**
 * Dead-letter worker: a payment that keeps failing is retried a few times, then moved aside to
 * a dead-letter queue where someone else can look at it, so it cannot block the others forever.
 *
 * The queue `payments` (on `payments.>`) allows 3 deliveries per message. The worker charges
 * each payment and acks it; a declined card is nacked with a delay, so the broker redelivers it
 * after 100 ms. After the third failed delivery the broker moves it to `payments.dlq`, which is
 * consumed like any durable queue: here by a second subscription that reports it.
 *
 *   npm run build && npm start                 # terminal 1: broker, store in ./linden-data
 *   node dist/examples/dead-letter-worker.js   # publishes 4 payments, handles them
 *
 * It publishes its own payments (persistent, so they are stored even before the worker
 * subscribes), prints a line per attempt and per dead letter, and exits 0 once every payment is
 * either charged or dead-lettered. LINDEN_URL points it at another broker.
 */
import { connect, type Message } from 'linden';
import { brokerUrl, reportFailures } from './run.js';

interface Payment {
  id: number;
  amount: number;
  card: string;
}

const MAX_DELIVERIES = 3;
const RETRY_DELAY_MS = 100;
const PAYMENTS: Payment[] = [
  { id: 1, amount: 12.5, card: '4111-ok' },
  { id: 2, amount: 99, card: '4000-declined' },
  { id: 3, amount: 7.25, card: '5500-ok' },
  { id: 4, amount: 30, card: '3400-ok' },
];

reportFailures(); // an expected failure ends in one line on stderr and exit 1 or 2 (see run.ts)
const url = brokerUrl(); // LINDEN_URL, else ws://127.0.0.1:7070
const client = await connect(url, { name: 'example-dead-letter-worker' });

// Declared before publishing so the payments are kept; maxDeliveries is what sends them to the dlq.
await client.createQueue('payments', 'payments.>', { maxDeliveries: MAX_DELIVERIES });
for (const p of PAYMENTS) await client.publish('payments.card', p, { mode: 'persistent', ack: 'submission' });

const expected = PAYMENTS.length;
let charged = 0;
let dead = 0;
let resolveDone!: () => void;
const done = new Promise<void>((resolve) => { resolveDone = resolve; });
const settled = (): void => {
  if (charged + dead === expected) resolveDone();
};

client.subscribe<Payment>('payments.>', {
  durable: 'payments',
  // The callback settles each message itself: ack when charged, nack with a delay when declined.
  callback: (msg: Message<Payment>) => {
    const p = msg.data;
    const attempt = `attempt ${msg.deliveryCount} of ${MAX_DELIVERIES}`;
    if (p.card.endsWith('declined')) {
      console.log(`payment #${p.id}: card declined (${attempt})`);
      msg.nack({ reason: 'card declined', delay: RETRY_DELAY_MS });
      return;
    }
    console.log(`payment #${p.id}: charged ${p.amount.toFixed(2)} (${attempt})`);
    msg.ack();
    charged++;
    settled();
  },
});

// Dead letters arrive with their topic and payload intact; the pattern is ignored for a dlq.
client.subscribe<Payment>('payments.>', {
  durable: 'payments.dlq',
  callback: (msg: Message<Payment>) => {
    console.log(`dead letter: payment #${msg.data.id} (${msg.data.amount.toFixed(2)} on ${msg.data.card}) needs a human`);
    msg.ack();
    dead++;
    settled();
  },
});

await done;
console.log(`done: ${charged} charged, ${dead} dead-lettered`);
await client.close();
