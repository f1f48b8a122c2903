/** A broker in its own process, so the benchmark's clients and the broker each get a core; argv[2]: more options, as JSON. */
import { getHeapStatistics } from 'node:v8';
import { startBroker } from '../server/index.js';

// At level warn the broker still logs `broker listening` with its URL, which spawnBroker() reads.
const broker = await startBroker({ port: 0, logLevel: 'warn', ...JSON.parse(process.argv[2] ?? '{}') });
process.on('SIGTERM', () => { void broker.close().then(() => process.exit(0)); });

// bench/request-garbage.ts asks for the heap in use at both ends of its run, over IPC when it gave the child a channel.
process.on('message', (message) => {
  if (message === 'heap used') process.send?.(getHeapStatistics().used_heap_size);
});
