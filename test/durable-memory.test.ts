/**
 * What a durable queue holds on to once its messages are gone (issue 20: whatever is held for a
 * reason is released when the reason ends). The broker runs in a child process with --expose-gc
 * and is measured after full collections.
 */
import { fileURLToPath } from 'node:url';
import { connect, type Client, type Message } from '../client-sdk/index.js';
import { formatMemory, MeasuredBroker, mib } from '../bench/measured-broker.js';
import { requireBuilt } from './helpers/built.js';

const SCRIPT = fileURLToPath(new URL('./helpers/measured-broker.mjs', import.meta.url));
const BUILT = fileURLToPath(new URL('../dist/server/index.js', import.meta.url));

let broker: MeasuredBroker | undefined;
let client: Client | undefined;

beforeAll(() => {
  requireBuilt(BUILT);
});

afterEach(async () => {
  await client?.close();
  await broker?.stop();
  client = broker = undefined;
});

test('acked messages with a long ttl are not kept by the expiry index until their ttl ends', async () => {
  broker = await MeasuredBroker.start(SCRIPT);
  const url = broker.url;
  const c = (client = await connect(url));
  await c.createQueue('big', 'big.>', { maxInFlight: 500 });
  const sub = c.subscribe<Uint8Array>('big.>', { durable: 'big' });
  await sub.ready;
  const it = sub[Symbol.asyncIterator]();

  /** Publishes n messages of 20 KB with a 1 h ttl and waits until the consumer has acked every one. */
  async function round(n: number): Promise<void> {
    let acked = 0;
    const consumed = (async () => {
      while (acked < n) {
        const { value } = await it.next();
        (value as Message<Uint8Array>).ack();
        acked++;
      }
    })();
    for (let i = 0; i < n; i += 250) {
      const batch = Array.from({ length: Math.min(250, n - i) }, (_, k) => new Uint8Array(20 * 1024).fill((i + k) % 251));
      await Promise.all(batch.map((data) => c.publish('big.x', data, { mode: 'persistent', ack: 'submission', ttl: 3_600_000 })));
    }
    await consumed;
    await c.flush();
    await untilEmpty(url, 'big');
  }

  await round(200); // warm-up: the same paths, at a small scale, before the baseline
  const baseline = await broker.measure();
  await round(3_000);
  const after = await broker.measure();
  const grown = mib(after) - mib(baseline);
  console.log(`broker memory after GC: baseline ${formatMemory(baseline)}, after 3,000 x 20 KB acked ${formatMemory(after)}, grown ${grown.toFixed(1)} MiB`);
  // The payloads alone are 58.6 MiB.
  expect(grown).toBeLessThan(8);
}, 60_000);

/** Polls the queue's view until the broker has taken every ack. */
async function untilEmpty(url: string, queue: string): Promise<void> {
  let messages = -1;
  await until(() => messages === 0, 10_000, async () => {
    const view = (await (await fetch(`${url.replace(/^ws/, 'http')}/api/queues/${queue}`)).json()) as { messages: number };
    messages = view.messages;
  });
}

async function until(done: () => boolean, ms: number, look: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + ms;
  for (await look(); !done(); await look()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
  }
}
