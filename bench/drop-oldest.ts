/**
 * Persistent publishes into a full `drop-oldest` queue: every one drops the oldest ready message
 * to make room, so the cost of deciding that it fits is paid on every publish.
 *
 *   npm run build && node dist/bench/drop-oldest.js [--queue 100000] [--messages 20000]
 *
 * The broker (memory store) runs in a child process; one publisher keeps 256 publishes with ack
 * 'submission' outstanding. Prints the publish rate once the queue is full.
 */
import { connect } from '../client-sdk/index.js';
import { spawnBroker } from './spawn-broker.js';
import { keepInFlight } from './in-flight.js';

const TOPIC = 'bench.ring';
const QUEUE = 'bench-ring';

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}

const queueSize = flag('--queue', 100_000);
const messages = flag('--messages', 20_000);

const broker = await spawnBroker();
try {
  const client = await connect(broker.url, { name: 'bench-drop-oldest' });
  await client.createQueue(QUEUE, TOPIC, { maxMessages: queueSize, overflow: 'drop-oldest' });
  const payload = new Uint8Array(64).fill(7);
  const publish = () => client.publish(TOPIC, payload, { mode: 'persistent', ack: 'submission' });
  await keepInFlight(queueSize, 256, publish); // fills the queue: nothing is dropped yet
  await keepInFlight(2_000, 256, publish); // warm-up of the dropping path
  const started = performance.now();
  await keepInFlight(messages, 256, publish);
  const seconds = (performance.now() - started) / 1000;
  await client.close();
  console.log(JSON.stringify({ queueSize, messages, seconds: Number(seconds.toFixed(3)), publishesPerSecond: Math.round(messages / seconds) }));
} finally {
  await broker.stop();
}
