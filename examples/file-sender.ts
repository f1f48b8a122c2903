/**
 * File sender: publishes a file (several MiB are fine) as one message and waits until a
 * receiver has checked and saved it.
 *
 * The message is larger than a WebSocket frame: the client sends it in fragments and the
 * broker forwards it in fragments, so small messages on the same connections are not stuck
 * behind it. Nothing here has to know; fragmentation is on by default on both sides.
 *
 *   npm run build && npm start                                  # terminal 1: broker
 *   node dist/examples/file-receiver.js copy.bin [topic] [url]  # terminal 2: wait for `ready`
 *   node dist/examples/file-sender.js big.bin [topic] [url]     # terminal 3
 *
 * The topic defaults to `files`, the broker to LINDEN_URL or ws://127.0.0.1:7070. It exits 0
 * once a receiver acked the file, 1 if none was there, it rejected the file or it took too long
 * (or the file is over the broker's maxMessageBytes), 2 if the file cannot be read.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { connect, type Receipt } from 'linden';
import { brokerUrl, fail, reportFailures } from './run.js';

// Generous: the receiver hashes and writes the file before it acks.
const RECEIPT_TIMEOUT_MS = 60_000;

reportFailures(); // an expected failure ends in one line on stderr and exit 1 or 2 (see run.ts)
const [path, topic = 'files', urlArg] = process.argv.slice(2);
if (!path) {
  console.error('usage: file-sender.js <path> [topic] [broker-url]  (path of the file to send is missing)');
  process.exit(2);
}
const url = brokerUrl(urlArg); // else LINDEN_URL, else ws://127.0.0.1:7070

// A path that names no readable file is a mistake on the command line: exit 2, like a bad argument.
const bytes = await readFile(path).catch((err: NodeJS.ErrnoException) => fail(`cannot read ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, 2));
const sha256 = createHash('sha256').update(bytes).digest('hex');
const name = basename(path);

const client = await connect(url, { name: 'example-file-sender' });
let receipt: Receipt;
try {
  // `processing`: resolves once the receiver acked, i.e. after it verified the hash and wrote
  // the file ('delivery' would only say the bytes reached its connection). The name and hash
  // ride as headers, so the payload is the file's bytes as they are.
  receipt = await client.publish(topic, bytes, {
    ack: 'processing',
    timeout: RECEIPT_TIMEOUT_MS,
    headers: { 'file-name': name, 'file-sha256': sha256 },
  });
} finally {
  await client.close();
}

if (receipt.processed > 0) {
  console.log(`sent ${name}: ${bytes.length} bytes, sha256 ${sha256}; the receiver saved it`);
} else {
  const why = receipt.receivers === 0 ? `no receiver subscribed to "${topic}"`
    : receipt.failed > 0 ? `the receiver rejected it (${receipt.rejected.map((r) => r.reason ?? 'no reason').join(', ')})`
      : `no ack within ${RECEIPT_TIMEOUT_MS} ms`;
  console.log(`sent ${name}: ${bytes.length} bytes, not saved: ${why}`);
  process.exitCode = 1;
}
