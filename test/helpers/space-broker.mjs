// A broker with a data folder in a process of its own, for kill -9 tests:
// `node space-broker.mjs <dataDir>` prints {"url": ...} once it listens. Runs the built broker
// (dist/): `npm run build` first.
import { startBroker } from '../../dist/server/index.js';

const broker = await startBroker({ port: 0, dataDir: process.argv[2], logLevel: 'silent' });
process.stdout.write(JSON.stringify({ url: broker.url }) + '\n');
