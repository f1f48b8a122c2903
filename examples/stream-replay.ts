/**
 * Replayable streams: sensor readings kept in the stream `readings` (the last 10,000), read
 * again from any seq, and a named reader that picks up, run after run, where it left off.
 *
 *   npm run build && npm start                      # terminal 1: broker on ws://127.0.0.1:7070
 *   node dist/examples/stream-replay.js             # the whole tour, prints what it read, exits 0
 *   node dist/examples/stream-replay.js publish 3   # or step by step: 3 more readings ...
 *   node dist/examples/stream-replay.js replay 2    # ... everything from seq 2 on ...
 *   node dist/examples/stream-replay.js reader audit  # ... what reader "audit" has not had yet
 *
 * The reader's position is kept by the broker, across its restarts too (with a data folder, as
 * `npm start` has). LINDEN_URL points it at another broker.
 */
import { connect, type Client } from 'linden';
import { brokerUrl, reportFailures } from './run.js';

interface Reading {
  sensor: string;
  celsius: number;
}

const STREAM = 'readings';

reportFailures(); // an expected failure ends in one line on stderr and exit 1 or 2 (see run.ts)
const url = brokerUrl(); // LINDEN_URL, else ws://127.0.0.1:7070
const [role = 'tour', arg] = process.argv.slice(2);
// Arguments are checked before connecting: a usage error needs no broker.
if (!['tour', 'publish', 'replay', 'reader'].includes(role) || (role === 'reader' && !arg)) usage();
const n = role === 'publish' || role === 'replay' ? count(arg) : 0;

const client = await connect(url, { name: 'example-stream-replay' });
try {
  // Creating it again with the same pattern and limits changes nothing.
  await client.createStream(STREAM, 'readings.>', { maxMessages: 10_000 });
  if (role === 'publish') await publish(client, n);
  else if (role === 'replay') await replay(client, n);
  else if (role === 'reader') await readOn(client, arg!);
  else await tour(client);
} finally {
  await client.close();
}

/** Publishes, reads from a seq, and shows that a named reader resumes where it stopped. */
async function tour(c: Client): Promise<void> {
  const { lastSeq } = await c.streamInfo(STREAM);
  await publish(c, 3);
  await replay(c, lastSeq + 2); // the last two of the three
  await readOn(c, `tour-${lastSeq}`); // a new reader: from the first message kept
  await publish(c, 2);
  await readOn(c, `tour-${lastSeq}`); // the same reader: only the two new ones
}

async function publish(c: Client, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const reading: Reading = { sensor: `s${i % 2}`, celsius: 20 + i };
    // Persistent: only persistent messages are kept in streams.
    await c.publish(`readings.${reading.sensor}`, reading, { mode: 'persistent', ack: 'submission' });
  }
  console.log(`published ${n}`);
}

/** Everything in the stream from `seq` up to its end now. */
async function replay(c: Client, seq: number): Promise<void> {
  const { lastSeq } = await c.streamInfo(STREAM);
  if (seq > lastSeq) return;
  for await (const msg of c.subscribe<Reading>('readings.>', { stream: STREAM, start: { seq } })) {
    print('replay', msg.seq!, msg.data);
    if (msg.seq! >= lastSeq) break;
  }
}

/** What reader `name` has not acked yet, up to the stream's end now; its acks move its position on. */
async function readOn(c: Client, name: string): Promise<void> {
  const info = await c.streamInfo(STREAM);
  const position = info.readers.find((r) => r.name === name)?.position ?? info.firstSeq;
  if (position > info.lastSeq) {
    console.log(`reader ${name}: nothing new`);
    return;
  }
  for await (const msg of c.subscribe<Reading>('readings.>', { stream: STREAM, reader: name })) {
    print(`reader ${name}`, msg.seq!, msg.data);
    msg.ack();
    if (msg.seq! >= info.lastSeq) break;
  }
}

function print(who: string, seq: number, r: Reading): void {
  console.log(`${who}: #${seq} ${r.sensor} ${r.celsius}°C`);
}

function count(text: string | undefined): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) usage();
  return n;
}

function usage(): never {
  console.error('usage: stream-replay.js [tour | publish <n> | replay <seq> | reader <name>]');
  process.exit(2);
}
