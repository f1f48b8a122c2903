/**
 * Request/reply over a tuple space: a server does arithmetic for any number of clients, who
 * share nothing with it but the space `rpc`:
 *   ['request', requestId, op, args]     a client puts one per question
 *   ['response', requestId, answer]      the server puts one per request it took
 * Each request gets a fresh random id and its client takes only the response with that id, so
 * many clients share one server (or several servers share the requests) without crossed answers.
 * Tuples wait in the space, so a client may even ask before any server runs.
 *
 *   npm run build && npm start                                # terminal 1: broker on ws://127.0.0.1:7070
 *   node dist/examples/space-request-reply.js                 # both sides in one process, exits 0
 *   node dist/examples/space-request-reply.js server          # or: a server until Ctrl-C ...
 *   node dist/examples/space-request-reply.js client add:1,2,3 mul:6,7   # ... and clients, before or after it
 *
 * The ops are `add` and `mul` over any count of numbers; another op gets an error answer. Both
 * tuples carry a lease, so requests nobody answered and answers nobody took do not pile up.
 * A client exits 1 if a request went unanswered for REQUEST_TIMEOUT_MS (default 10,000).
 * LINDEN_URL points it at another broker.
 */
import { randomUUID } from 'node:crypto';
import { connect, type Space } from 'linden';
import { brokerUrl, reportFailures } from './run.js';

interface Call {
  op: string;
  args: number[];
}
type Answer = { value: number } | { error: string };
type Request = ['request', string, string, number[]];
type Response = ['response', string, Answer];

const SPACE = 'rpc';
const DEFAULT_CALLS = ['add:1,2', 'mul:6,7', 'add:-7,7', 'pow:2,10'];

reportFailures(); // an expected failure ends in one line on stderr and exit 1 or 2 (see run.ts)
const url = brokerUrl(); // LINDEN_URL, else ws://127.0.0.1:7070
const timeoutMs = parseTimeout(process.env.REQUEST_TIMEOUT_MS ?? '10000');
const role = process.argv[2] ?? 'both';

if (role === 'server') {
  const server = await connect(url, { name: 'example-space-server' });
  // Ctrl-C ends the server's wait for a request (the `in` resolves null), then it exits.
  const interrupt = new AbortController();
  process.once('SIGINT', () => interrupt.abort());
  process.once('SIGTERM', () => interrupt.abort());
  console.log('server ready');
  const answered = await serve(server.space(SPACE), interrupt.signal);
  console.log(`server: answered ${answered} requests`);
  await server.close();
} else if (role === 'client') {
  const calls = parseCalls(process.argv.slice(3));
  const client = await connect(url, { name: 'example-space-client' });
  const unanswered = await ask(client.space(SPACE), calls).finally(() => client.close());
  if (unanswered > 0) process.exitCode = 1;
} else if (role === 'both') {
  const server = await connect(url, { name: 'example-space-server' });
  const client = await connect(url, { name: 'example-space-client' });
  const stop = new AbortController();
  const serving = serve(server.space(SPACE), stop.signal);
  try {
    if ((await ask(client.space(SPACE), parseCalls(DEFAULT_CALLS))) > 0) process.exitCode = 1;
  } finally {
    stop.abort();
    console.log(`server: answered ${await serving} requests`);
    await client.close();
    await server.close();
  }
} else {
  console.error(`usage: space-request-reply.js [both|server|client [op:a,b,...]...]  (got "${role}")`);
  process.exit(2);
}

/** Answers requests one at a time until `signal` aborts; resolves with how many it answered. */
async function serve(space: Space, signal: AbortSignal): Promise<number> {
  let answered = 0;
  for (;;) {
    const request = await space.in<Request>(['request', { $type: 'string' }, { $type: 'string' }, { $type: 'array' }], { signal });
    if (!request) return answered;
    const [, requestId, op, args] = request;
    // The lease matches the client's patience: after that nobody will take the response.
    await space.out(['response', requestId, compute(op, args)], { ttl: timeoutMs });
    answered++;
  }
}

function compute(op: string, args: unknown[]): Answer {
  if (!args.every((a): a is number => typeof a === 'number')) return { error: 'arguments must be numbers' };
  if (op === 'add') return { value: args.reduce((a, b) => a + b, 0) };
  if (op === 'mul') return { value: args.reduce((a, b) => a * b, 1) };
  return { error: `unknown op "${op}"` };
}

/** Puts every request at once, then prints the answers in order; resolves with how many timed out. */
async function ask(space: Space, calls: Call[]): Promise<number> {
  const ids = calls.map(() => randomUUID());
  // The lease takes a request back out of the space once its client stopped waiting.
  await Promise.all(calls.map((c, i) => space.out(['request', ids[i], c.op, c.args], { ttl: timeoutMs })));
  console.log(`sent ${calls.length} requests`);

  // One blocked `in` per id, all waiting at once: answers may come in any order.
  const responses = await Promise.all(ids.map((id) => space.in<Response>(['response', id, { $any: true }], { timeout: timeoutMs })));
  let unanswered = 0;
  for (const [i, { op, args }] of calls.entries()) {
    const call = `${op}(${args.join(', ')})`;
    const response = responses[i];
    if (!response) {
      unanswered++;
      console.log(`${call}: no answer within ${timeoutMs} ms`);
    } else {
      const answer = response[2];
      console.log('value' in answer ? `${call} = ${answer.value}` : `${call} failed: ${answer.error}`);
    }
  }
  return unanswered;
}

/** Turns `op:a,b,...` arguments into calls; none means the default questions. */
function parseCalls(specs: string[]): Call[] {
  return (specs.length > 0 ? specs : DEFAULT_CALLS).map((spec) => {
    const m = /^([a-z]+):(.+)$/.exec(spec);
    const parts = m ? m[2]!.split(',') : [];
    if (!m || parts.some((p) => p.trim() === '' || !Number.isFinite(Number(p)))) {
      usage(`a call is op:a,b,... with numbers a, b, ..., got "${spec}"`);
    }
    return { op: m[1]!, args: parts.map(Number) };
  });
}

function parseTimeout(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) usage(`REQUEST_TIMEOUT_MS must be a positive integer, got "${value}"`);
  return n;
}

function usage(problem: string): never {
  console.error(`usage: space-request-reply.js [both|server|client [op:a,b,...]...]  (${problem})`);
  process.exit(2);
}
