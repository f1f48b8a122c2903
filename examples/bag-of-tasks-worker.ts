/**
 * Bag of tasks, a worker: takes tasks from the space `jobs`, counts the primes in each task's
 * range, puts the result back, and stops when it takes a poison pill (see bag-of-tasks-master.ts
 * for the tuples). Start as many as you like, before or after the master; they share the tasks.
 *
 *   npm run build && npm start                          # terminal 1: broker on ws://127.0.0.1:7070
 *   node dist/examples/bag-of-tasks-worker.js [name]    # one terminal per worker
 *   node dist/examples/bag-of-tasks-master.js 20 3      # another terminal, any time
 *
 * A worker takes each task under a reservation: the broker hides the task until the worker
 * acks it after putting the result, and puts it back for another worker if this one dies or
 * goes silent first. So no task is lost, but one may be done twice; the master expects that.
 * To watch it happen, CRASH_AFTER=n makes the worker die holding its (n+1)th task.
 *
 * It prints `ready` once its first take is waiting at the broker, then a line per task, and
 * exits 0 after the pill (or Ctrl-C, which lets it finish the task at hand). LINDEN_URL points
 * it at another broker.
 */
import { connect, type Reserved } from 'linden';
import { brokerUrl, reportFailures } from './run.js';

type Task = ['task', string, number, [number, number]];
type Pill = ['stop', string, 0, null];

const SPACE = 'jobs';
// Same arity as a task, so that one template waits for either a task or the pill.
const TASK_OR_PILL = [{ $in: ['task', 'stop'] }, { $type: 'string' }, { $type: 'integer' }, { $any: true }];
// How long a task may take before the broker assumes this worker hung and hands it to another.
const RESERVE_MS = 60_000;

reportFailures(); // an expected failure ends in one line on stderr and exit 1 or 2 (see run.ts)
const url = brokerUrl(); // LINDEN_URL, else ws://127.0.0.1:7070
const name = process.argv[2] ?? `worker-${process.pid}`;
const crashAfter = parseCrashAfter(process.env.CRASH_AFTER);

const client = await connect(url, { name: `example-bag-worker-${name}` });
const jobs = client.space(SPACE);
const interrupt = new AbortController();
process.once('SIGINT', () => interrupt.abort());
process.once('SIGTERM', () => interrupt.abort());

const take = () => jobs.in<Task | Pill>(TASK_OR_PILL, { reserve: RESERVE_MS, signal: interrupt.signal });

let next: Promise<Reserved<Task | Pill> | null> = take();
// The broker handles a connection's requests in order: once this round trip is back, the take
// above is waiting, and a task put from now on can reach this worker.
await client.flush();
console.log(`${name}: ready`);

let done = 0;
for (;;) {
  const taken = await next;
  if (!taken) {
    console.log(`${name}: interrupted after ${done} tasks`);
    break;
  }
  if (taken.tuple[0] === 'stop') {
    await taken.ack(); // the pill is this worker's alone: the master put one per worker
    console.log(`${name}: stopped by job ${taken.tuple[1]} after ${done} tasks`);
    break;
  }
  const [, jobId, i, [from, to]] = taken.tuple;
  if (done === crashAfter) await crash(`${name}: crashing while holding task ${i} of job ${jobId}`);

  const primes = countPrimes(from, to);
  await jobs.out(['result', jobId, i, primes]);
  // Only now may the broker forget the task: a crash before this line hands it to another worker.
  await taken.ack();
  done++;
  console.log(`${name}: task ${i} of job ${jobId}: ${primes} primes in [${from}, ${to})`);
  next = take();
}
await client.close();

/** Primes p with from <= p < to, by trial division: slow on purpose, it is the work to share. */
function countPrimes(from: number, to: number): number {
  let n = 0;
  for (let p = Math.max(from, 2); p < to; p++) {
    let prime = true;
    for (let d = 2; d * d <= p; d++) {
      if (p % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) n++;
  }
  return n;
}

/** Dies the hard way, without closing the connection, as a crashed process would. */
async function crash(line: string): Promise<never> {
  // The write callback means the line reached stdout; SIGKILL gives nothing else a chance to run.
  await new Promise<void>((resolve) => process.stdout.write(line + '\n', () => resolve()));
  process.kill(process.pid, 'SIGKILL');
  return new Promise<never>(() => {});
}

function parseCrashAfter(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`usage: CRASH_AFTER=n bag-of-tasks-worker.js [name]  (n must be a whole number, got "${value}")`);
    process.exit(2);
  }
  return n;
}
