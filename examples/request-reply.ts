/**
 * Request/reply: a responder adds numbers on `math.add`; a requester asks it a few sums.
 *
 * Both sides are ordinary clients with their own connections: the requester only knows the
 * topic, and the broker routes the reply back to it. By default one process runs both sides;
 * give a role to run them apart:
 *
 *   npm run build && npm start                         # terminal 1: broker on ws://127.0.0.1:7070
 *   node dist/examples/request-reply.js                # both sides, prints the sums, exits 0
 *   node dist/examples/request-reply.js responder      # or: a responder until Ctrl-C ...
 *   node dist/examples/request-reply.js requester      # ... and a requester in another terminal
 *
 * LINDEN_URL points it at another broker.
 */
import { connect, type Client } from 'linden';
import { brokerUrl, reportFailures } from './run.js';

interface AddRequest {
  a: number;
  b: number;
}

const TOPIC = 'math.add';
const SUMS: ReadonlyArray<AddRequest> = [{ a: 1, b: 2 }, { a: 20, b: 22 }, { a: -7, b: 7 }, { a: 0.5, b: 0.25 }];
const REQUEST_TIMEOUT_MS = 2_000;

reportFailures(); // an expected failure ends in one line on stderr and exit 1 or 2 (see run.ts)
const url = brokerUrl(); // LINDEN_URL, else ws://127.0.0.1:7070
const role = process.argv[2] ?? 'both';

if (role === 'responder') {
  const responder = await connect(url, { name: 'example-responder' });
  process.once('SIGINT', () => void responder.close());
  await respond(responder);
  console.log('responder ready');
} else if (role === 'requester') {
  const requester = await connect(url, { name: 'example-requester' });
  await ask(requester).finally(() => requester.close());
} else if (role === 'both') {
  const responder = await connect(url, { name: 'example-responder' });
  const requester = await connect(url, { name: 'example-requester' });
  try {
    await respond(responder); // in effect before the first request, so none goes unanswered
    await ask(requester);
  } finally {
    await requester.close();
    await responder.close();
  }
} else {
  console.error(`usage: request-reply.js [both|responder|requester]  (got "${role}")`);
  process.exit(2);
}

/** Answers every request on TOPIC; resolves once the broker routes requests to it. */
async function respond(client: Client): Promise<void> {
  const sub = client.subscribe<AddRequest>(TOPIC, {
    callback: (msg) => {
      const { a, b } = msg.data;
      // A nack tells the requester at once that it asked the wrong thing, instead of a timeout.
      if (typeof a !== 'number' || typeof b !== 'number') msg.nack('a and b must be numbers');
      else msg.reply(a + b);
    },
  });
  await sub.ready;
}

/** Sends each request in turn and prints the answer. */
async function ask(client: Client): Promise<void> {
  for (const { a, b } of SUMS) {
    const sum = await client.request<number>(TOPIC, { a, b }, { timeout: REQUEST_TIMEOUT_MS });
    console.log(`${a} + ${b} = ${sum}`);
  }
}
