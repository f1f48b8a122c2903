/** A broker in its own process, so the benchmark's clients and the broker each get a core. */
import { startBroker } from '../server/index.js';

const broker = await startBroker({ port: 0, logLevel: 'warn' });
process.stdout.write(JSON.stringify({ url: broker.url }) + '\n');
process.on('SIGTERM', () => { void broker.close().then(() => process.exit(0)); });
