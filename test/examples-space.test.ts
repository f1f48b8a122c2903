import { ChildTracker, type Exit, type NodeChild } from './helpers/child-process.js';
import { exampleStarter, requireCompiledExample } from './helpers/examples.js';
import { testBroker } from './helpers/setup.js';

// 20 tasks of 5,000 numbers each: the primes below 100,000.
const TASKS = 20;
const PRIMES_BELOW_100_000 = 9592;

const t = testBroker();
const children = new ChildTracker();
const start = exampleStarter(t, children, ['CRASH_AFTER', 'REQUEST_TIMEOUT_MS']);

function worker(name: string, env: Record<string, string> = {}): NodeChild {
  return start('bag-of-tasks-worker.js', [name], env);
}

/** Task indices a worker reported done, in the order it printed them. */
function tasksDone(name: string, stdout: string): number[] {
  return [...stdout.matchAll(new RegExp(`^${name}: task (\\d+) of job \\w+: \\d+ primes in \\[\\d+, \\d+\\)$`, 'gm'))].map((m) => Number(m[1]));
}

/** Checks a worker stopped on the master's pill, and returns the tasks it did. */
function stoppedWorker(name: string, exit: Exit, jobId: string): number[] {
  expect(exit.stderr).toBe('');
  expect(exit.code).toBe(0);
  const done = tasksDone(name, exit.stdout);
  expect(exit.stdout).toContain(`${name}: stopped by job ${jobId} after ${done.length} tasks`);
  return done;
}

/** Checks the master's summary; returns its job id. */
function finishedMaster(exit: Exit, pills: number): string {
  expect(exit.stderr).toBe('');
  expect(exit.code).toBe(0);
  const jobId = /^job (\w+): put \d+ tasks/m.exec(exit.stdout)?.[1];
  expect(jobId).toBeDefined();
  expect(exit.stdout).toContain(`job ${jobId}: ${TASKS} results in: ${PRIMES_BELOW_100_000} primes below 100000`);
  expect(exit.stdout).toContain(`job ${jobId}: put ${pills} poison pills`);
  return jobId!;
}

function range(n: number, from = 0): number[] {
  return Array.from({ length: n }, (_, i) => from + i);
}

function sorted(ns: number[]): number[] {
  return [...ns].sort((a, b) => a - b);
}

beforeAll(() => {
  for (const script of ['bag-of-tasks-master.js', 'bag-of-tasks-worker.js', 'space-request-reply.js']) {
    requireCompiledExample(script);
  }
});

beforeEach(() => t.start());

afterEach(async () => {
  // A failed assertion can leave children running; none may outlive its test.
  await children.killAll();
  await t.cleanup();
});

describe('bag of tasks', () => {
  test('workers started after the master find its tasks waiting, and do each exactly once', async () => {
    const master = start('bag-of-tasks-master.js', [String(TASKS), '3']);
    // The tasks are in the space before any worker exists.
    await master.line('stdout', new RegExp(`^job \\w+: put ${TASKS} tasks in space "jobs"$`));

    const names = ['w1', 'w2', 'w3'];
    const workers = names.map((name) => worker(name));
    const jobId = finishedMaster(await master.exited, 3);
    const done = (await Promise.all(workers.map((w) => w.exited))).map((exit, i) => stoppedWorker(names[i]!, exit, jobId));
    // Nobody crashed, so every task was done once. Which worker did how many is up to timing here.
    expect(sorted(done.flat())).toEqual(range(TASKS));
  });

  test('workers waiting before the master arrives share its tasks between them', async () => {
    const names = ['w1', 'w2', 'w3'];
    const workers = names.map((name) => worker(name));
    // `ready` means the worker's take waits at the broker, so the first three tasks go one to
    // each worker, in the order they started waiting.
    await Promise.all(workers.map((w, i) => w.line('stdout', `${names[i]}: ready`)));

    const jobId = finishedMaster(await start('bag-of-tasks-master.js', [String(TASKS), '3']).exited, 3);
    const done = (await Promise.all(workers.map((w) => w.exited))).map((exit, i) => stoppedWorker(names[i]!, exit, jobId));
    for (const tasks of done) expect(tasks.length).toBeGreaterThan(0);
    expect(sorted(done.flat())).toEqual(range(TASKS));
  });

  test('a task held by a worker that crashes goes back to the space and another worker does it', async () => {
    const crasher = worker('crasher', { CRASH_AFTER: '0' });
    await crasher.line('stdout', 'crasher: ready');
    // Two pills: the crashed worker will not need one.
    const master = start('bag-of-tasks-master.js', [String(TASKS), '2']);

    // The only worker waiting gets task 0 and dies holding it, without acking.
    const crashed = await crasher.exited;
    expect(crashed.signal).toBe('SIGKILL');
    expect(crashed.stdout).toMatch(/^crasher: crashing while holding task 0 of job \w+$/m);
    expect(tasksDone('crasher', crashed.stdout)).toEqual([]);

    const workers = [worker('w1'), worker('w2')];
    const jobId = finishedMaster(await master.exited, 2);
    const done = (await Promise.all(workers.map((w) => w.exited))).map((exit, i) => stoppedWorker(`w${i + 1}`, exit, jobId));
    expect(sorted(done.flat())).toEqual(range(TASKS));
  });

  test('an interrupted master takes back the tasks nobody started and exits 1', async () => {
    const master = start('bag-of-tasks-master.js', ['5']);
    await master.line('stdout', /^job \w+: put 5 tasks/);
    master.child.kill('SIGINT');
    const exit = await master.exited;
    expect(exit.code).toBe(1);
    expect(exit.stdout).toMatch(/^job \w+: interrupted with 0 of 5 results, withdrew 5 tasks$/m);

    // Nothing is left for a worker to do: it stops on the pill the next master puts.
    const late = worker('late');
    await late.line('stdout', 'late: ready');
    const jobId = finishedMaster(await start('bag-of-tasks-master.js', [String(TASKS), '1']).exited, 1);
    expect(sorted(stoppedWorker('late', await late.exited, jobId))).toEqual(range(TASKS));
  });
});

describe('request/reply over a space', () => {
  test('in one process: prints the answers its server computed and exits 0', async () => {
    const run = await start('space-request-reply.js').exited;
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout.trimEnd().split('\n')).toEqual([
      'sent 4 requests',
      'add(1, 2) = 3',
      'mul(6, 7) = 42',
      'add(-7, 7) = 0',
      'pow(2, 10) failed: unknown op "pow"',
      'server: answered 4 requests',
    ]);
  });

  test('clients that ask before the server runs each get their own answers from it', async () => {
    const clients = [
      start('space-request-reply.js', ['client', 'add:1,2,3', 'mul:2,3,4', 'add:0.5,0.25']),
      start('space-request-reply.js', ['client', 'add:10,20', 'mul:-1,5']),
    ];
    // The requests wait in the space: no server exists yet.
    await clients[0]!.line('stdout', 'sent 3 requests');
    await clients[1]!.line('stdout', 'sent 2 requests');
    const server = start('space-request-reply.js', ['server']);

    const [first, second] = await Promise.all(clients.map((c) => c.exited));
    for (const c of [first!, second!]) {
      expect(c.stderr).toBe('');
      expect(c.code).toBe(0);
    }
    expect(first!.stdout.trimEnd().split('\n')).toEqual(['sent 3 requests', 'add(1, 2, 3) = 6', 'mul(2, 3, 4) = 24', 'add(0.5, 0.25) = 0.75']);
    expect(second!.stdout.trimEnd().split('\n')).toEqual(['sent 2 requests', 'add(10, 20) = 30', 'mul(-1, 5) = -5']);

    // Every response was taken, so the server is idle; SIGINT ends its wait for the next request.
    server.child.kill('SIGINT');
    const stopped = await server.exited;
    expect(stopped.stderr).toBe('');
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toContain('server: answered 5 requests');
  });

  test('a client nobody answers gives up after REQUEST_TIMEOUT_MS and exits 1', async () => {
    const run = await start('space-request-reply.js', ['client', 'add:1,1'], { REQUEST_TIMEOUT_MS: '200' }).exited;
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('add(1, 1): no answer within 200 ms');
  });
});

test('the space examples reject bad arguments with a usage line and exit code 2', async () => {
  const runs = await Promise.all([
    start('bag-of-tasks-master.js', ['lots']).exited,
    start('bag-of-tasks-master.js', ['4', '0']).exited,
    start('bag-of-tasks-worker.js', ['w1'], { CRASH_AFTER: 'soon' }).exited,
    start('space-request-reply.js', ['bystander']).exited,
    start('space-request-reply.js', ['client', 'add:1,,2']).exited,
  ]);
  for (const r of runs) {
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^usage: /);
  }
});
