/**
 * File receiver: takes one file from a topic, checks its SHA-256 and writes it to a path.
 *
 * The file arrives as one message (file-sender.ts publishes it whole; messages larger than a
 * WebSocket frame travel as fragments, reassembled before the subscription sees them). Its
 * name and hash come as message headers, so the payload is nothing but the file's bytes.
 *
 * Start it before the sender:
 *
 *   npm run build && npm start                                  # terminal 1: broker
 *   node dist/examples/file-receiver.js copy.bin [topic] [url]  # terminal 2: prints `ready`
 *   node dist/examples/file-sender.js big.bin [topic] [url]     # terminal 3
 *
 * The topic defaults to `files`, the broker to LINDEN_URL or ws://127.0.0.1:7070. It exits 0
 * once the file is written, 1 if its hash did not match (nothing is written then).
 *
 * A plain subscription, not a durable one: a file is not parked in the broker's store waiting
 * for a receiver, and the sender's `processing` receipt tells it whether a receiver was there
 * and saved the file. Hence the order: the receiver first, the sender once it printed `ready`.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { connect } from 'linden';
import { brokerUrl, reportFailures } from './run.js';

reportFailures(); // an expected failure ends in one line on stderr and exit 1 or 2 (see run.ts)
const [path, topic = 'files', urlArg] = process.argv.slice(2);
if (!path) {
  console.error('usage: file-receiver.js <path> [topic] [broker-url]  (path to write the file to is missing)');
  process.exit(2);
}
const url = brokerUrl(urlArg); // else LINDEN_URL, else ws://127.0.0.1:7070

const client = await connect(url, { name: 'example-file-receiver' });
process.once('SIGINT', () => void client.close());
process.once('SIGTERM', () => void client.close());

const files = client.subscribe<Uint8Array>(topic);
await files.ready;
console.log('ready');

for await (const msg of files) {
  const name = msg.headers['file-name'] ?? '(unnamed)';
  const expected = msg.headers['file-sha256'];
  const bytes = msg.data;
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== expected) {
    // The sender learns it from its receipt; a half-right file is not worth keeping.
    console.log(`received ${name}: ${bytes.length} bytes, sha256 MISMATCH (got ${actual}, expected ${expected})`);
    msg.nack('sha256 mismatch');
    process.exitCode = 1;
  } else {
    await writeFile(path, bytes);
    console.log(`received ${name}: ${bytes.length} bytes, sha256 ${actual} ok, saved to ${path}`);
    // Acked only once it is on disk: that is what the sender's `processing` receipt promises.
    msg.ack();
  }
  break; // one file per run; leaving the loop unsubscribes
}

await client.close();
