/**
 * `npm run bench`: broker in a child process, clients here, all on this machine.
 * Prints a table and writes bench-results.json.
 */
import { writeFileSync } from 'node:fs';
import { pubsubThroughput } from './pubsub-throughput.js';
import { requestLatency } from './request-latency.js';
import { spawnBroker } from './spawn-broker.js';

const quick = process.argv.includes('--quick');
const results: Record<string, unknown> = {};
const broker = await spawnBroker();
try {
  await pubsubThroughput(broker.url, 1, 50_000); // warm-up: JIT on both sides
  const oneToOne = await pubsubThroughput(broker.url, 1, quick ? 200_000 : 2_000_000);
  const oneToTen = await pubsubThroughput(broker.url, 10, quick ? 50_000 : 300_000);
  const latency = await requestLatency(broker.url, quick ? 2_000 : 20_000);
  Object.assign(results, { pubsub_1_to_1: oneToOne, pubsub_1_to_10: oneToTen, request_reply: latency });
  console.log('benchmark                         result');
  console.log(`pub/sub 1 -> 1,  128 B payload   ${oneToOne.deliveriesPerSecond.toLocaleString('en-US')} deliveries/s`);
  console.log(`pub/sub 1 -> 10, 128 B payload   ${oneToTen.deliveriesPerSecond.toLocaleString('en-US')} deliveries/s`);
  console.log(`request/reply round trip         p50 ${latency.p50Micros} µs, p99 ${latency.p99Micros} µs`);
} finally {
  await broker.stop();
}
writeFileSync('bench-results.json', JSON.stringify(results, null, 2) + '\n');
