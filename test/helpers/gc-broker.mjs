// A broker in a process of its own whose heap a test can weigh, away from the test runner's
// own allocations: `node gc-broker.mjs [optionsJson]` prints {"url": ...} once it listens, and on
// each SIGUSR2 runs full collections and prints {"n": <1, 2, ...>, "heap": <bytes in use>}.
// Runs the built broker (dist/): `npm run build` first.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startBroker } from '../../dist/server/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');
const broker = await startBroker({ port: 0, logLevel: 'silent', ...JSON.parse(process.argv[2] ?? '{}') });
let n = 0;
process.on('SIGUSR2', () => {
  for (let i = 0; i < 3; i++) gc();
  process.stdout.write(JSON.stringify({ n: ++n, heap: process.memoryUsage().heapUsed }) + '\n');
});
process.stdout.write(JSON.stringify({ url: broker.url }) + '\n');
