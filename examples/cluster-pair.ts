/**
 * Two brokers, one system: a subscriber and a blocked `in` on one broker, a publish and an `out`
 * on the other, and a stream appended on one and replayed on the other. The brokers share nothing but a Redis (README, "Running a cluster"):
 *
 *   redis-server --port 6380 --appendonly yes --appendfsync always &          # any Redis 7
 *   linden serve --port 7071 --memory --redis redis://127.0.0.1:6380 &
 *   linden serve --port 7072 --memory --redis redis://127.0.0.1:6380 &
 *   node dist/examples/cluster-pair.js ws://127.0.0.1:7071 ws://127.0.0.1:7072
 *
 * Prints what crossed and exits 0; exits 1 when something did not cross in time.
 */
import { connect, type Client } from 'linden';
import { brokerUrl, fail, reportFailures } from './run.js';

const WAIT_MS = 5_000;

reportFailures(); // an expected failure ends in one line on stderr and exit 1 or 2 (see run.ts)
if (process.argv.length !== 4) fail('usage: cluster-pair.js <url of broker A> <url of broker B>', 2);
const [urlA, urlB] = [brokerUrl(process.argv[2]), brokerUrl(process.argv[3])];
const a = await connect(urlA, { name: 'example-cluster-a' });
const b = await connect(urlB, { name: 'example-cluster-b' });
try {
  await publishAcross(a, b);
  await tupleAcross(a, b);
  await streamAcross(a, b);
} finally {
  await Promise.all([a.close(), b.close()]);
}

/**
 * A subscriber on A, a publish on B that waits until it was delivered. A subscription reaches
 * the other nodes within moments of its `ready`, so the publisher retries while nobody is seen.
 */
async function publishAcross(subscriberSide: Client, publisherSide: Client): Promise<void> {
  const greetings = subscriberSide.subscribe<string>('greetings.*');
  await greetings.ready;
  const deadline = Date.now() + WAIT_MS;
  let receipt = await publisherSide.publish('greetings.hello', 'hello from B', { ack: 'delivery' });
  while (receipt.receivers === 0) {
    if (Date.now() > deadline) fail(`broker B never saw the subscription on broker A in ${WAIT_MS} ms: are both on one Redis?`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    receipt = await publisherSide.publish('greetings.hello', 'hello from B', { ack: 'delivery' });
  }
  for await (const msg of greetings) {
    console.log(`A received ${msg.topic}: ${msg.data} (published on B, delivered to ${receipt.delivered})`);
    break;
  }
}

/** A blocked `in` on A, served by an `out` on B: one tuple space for the whole cluster. */
async function tupleAcross(takerSide: Client, writerSide: Client): Promise<void> {
  const taken = takerSide.space('jobs').in<[string, string]>(['resize', { $type: 'string' }], { timeout: WAIT_MS });
  await writerSide.space('jobs').out(['resize', 'cat.png']);
  const tuple = await taken;
  if (tuple === null) fail(`the out on broker B did not reach the in on broker A in ${WAIT_MS} ms`);
  console.log(`A took ["resize", "${tuple[1]}"] written on B`);
}

/**
 * A replayable stream: created and appended on B (the persistent publish is in Redis once its
 * receipt comes), replayed on A from its newest message. Running again appends once more.
 */
async function streamAcross(readerSide: Client, writerSide: Client): Promise<void> {
  await writerSide.createStream('pair-log', 'pair.log');
  await writerSide.publish('pair.log', 'logged on B', { mode: 'persistent', ack: 'submission' });
  const replay = readerSide.subscribe<string>('pair.log', { stream: 'pair-log', start: 'last' });
  const timer = setTimeout(() => fail(`the stream appended on broker B was not replayed on broker A in ${WAIT_MS} ms`), WAIT_MS);
  for await (const msg of replay) {
    clearTimeout(timer);
    console.log(`A replayed "${msg.data}" from stream pair-log (appended on B)`);
    break;
  }
}
