/**
 * Bag of tasks, the master: counts the primes below tasks x 5,000 by handing out one range per
 * task to however many workers turn up (see bag-of-tasks-worker.ts), the classic Linda pattern.
 *
 * The master and its workers never address each other; they share only the tuple space `jobs`:
 *   ['task', jobId, i, [from, to]]     the master puts one per range
 *   ['result', jobId, i, primes]       a worker puts one per task it finished
 *   ['stop', jobId, 0, null]           the poison pill: the master puts one per worker at the end
 * The jobId keeps results of masters sharing the space apart. Because tuples wait in the space,
 * start the master and the workers in any order: tasks wait for workers, workers for tasks.
 *
 *   npm run build && npm start                          # terminal 1: broker on ws://127.0.0.1:7070
 *   node dist/examples/bag-of-tasks-master.js [tasks] [workers]   # terminal 2, default 20 tasks, 3 workers
 *   node dist/examples/bag-of-tasks-worker.js w1        # terminals 3, 4, 5: one per worker, any time
 *
 * `workers` is the number of poison pills: one per worker, so each one stops. LINDEN_URL points
 * it at another broker. It exits 0 with the sum once all results are in; on Ctrl-C it takes back
 * the tasks nobody started and exits 1.
 */
import { randomUUID } from 'node:crypto';
import { connect } from 'linden';
import { brokerUrl, reportFailures } from './run.js';

type Result = ['result', string, number, number];

const SPACE = 'jobs';
// Numbers per task: big enough that a task is real work next to its three round trips.
const SPAN = 5_000;

reportFailures(); // an expected failure ends in one line on stderr and exit 1 or 2 (see run.ts)
const url = brokerUrl(); // LINDEN_URL, else ws://127.0.0.1:7070
const tasks = parsePositive(process.argv[2] ?? '20', 'tasks');
const workers = parsePositive(process.argv[3] ?? '3', 'workers');

const client = await connect(url, { name: 'example-bag-master' });
const jobs = client.space(SPACE);
// Ctrl-C ends the wait for results (the `in` resolves null) rather than killing a half-done job.
const interrupt = new AbortController();
process.once('SIGINT', () => interrupt.abort());
process.once('SIGTERM', () => interrupt.abort());

const jobId = randomUUID().slice(0, 8);
// All outs in flight at once: nobody waits on the order the tasks arrive in.
await Promise.all(range(tasks).map((i) => jobs.out(['task', jobId, i, [i * SPAN, (i + 1) * SPAN]])));
console.log(`job ${jobId}: put ${tasks} tasks in space "${SPACE}"`);

// Keyed by task index: a worker that died between putting a result and acking its task makes
// another worker do that task again (at-least-once), so a result may come twice.
const primes = new Map<number, number>();
while (primes.size < tasks) {
  const result = await jobs.in<Result>(['result', jobId, { $type: 'integer' }, { $type: 'integer' }], { signal: interrupt.signal });
  if (!result) break;
  primes.set(result[2], result[3]);
}

if (primes.size < tasks) {
  // Tasks still in the space would keep workers busy for a job nobody waits for any more.
  const withdrawn = await jobs.inAll(['task', jobId, { $any: true }, { $any: true }]);
  console.log(`job ${jobId}: interrupted with ${primes.size} of ${tasks} results, withdrew ${withdrawn.length} tasks`);
  process.exitCode = 1;
} else {
  const total = [...primes.values()].reduce((a, b) => a + b, 0);
  console.log(`job ${jobId}: ${tasks} results in: ${total} primes below ${tasks * SPAN}`);
  // Pills go in only now, after every task was taken. Each worker takes one and stops.
  await Promise.all(range(workers).map(() => jobs.out(['stop', jobId, 0, null])));
  console.log(`job ${jobId}: put ${workers} poison pills`);
}
await client.close();

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function parsePositive(arg: string, what: string): number {
  const n = Number(arg);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`usage: bag-of-tasks-master.js [tasks] [workers]  (${what} must be a positive integer, got "${arg}")`);
    process.exit(2);
  }
  return n;
}
