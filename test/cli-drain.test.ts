/**
 * `linden serve` and signals (README "Signals and drain"): SIGTERM drains the broker and exits 0
 * once what was in flight is done; a second signal during a drain exits at once, non-zero. Runs
 * the built CLI (`npm run build`).
 */
import { connect, type Client, type Message } from '../client-sdk/index.js';
import { serveProcess, type ServeProcess } from './helpers/serve-process.js';
import { take } from './helpers/setup.js';
import { serveSuite } from './helpers/serve-suite.js';

const suite = serveSuite('linden-cli-drain-');
const { children, clients } = suite;

/** A serve process with a persistent publish waiting for `processing` and its durable delivery held, unacked. */
async function busyBroker(): Promise<{ serve: ServeProcess; receipt: Promise<unknown>; held: Message }> {
  const serve = await serveProcess(children, ['--data', suite.dataDir]);
  const [publisher, consumer] = await Promise.all([serve.url, serve.url].map((url) => connect(url, { reconnect: false })));
  clients.push(publisher!, consumer!);
  const sub = consumer!.subscribe('jobs.>', { durable: 'jobs' });
  await sub.ready;
  const receipt = publisher!.publish('jobs.x', 'work', { mode: 'persistent', ack: 'processing' });
  receipt.catch(() => undefined); // lost with the process, when a test ends it at once
  const [held] = await take(sub, 1);
  return { serve, receipt, held: held! };
}

function logLines(stdout: string): Record<string, unknown>[] {
  return stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('SIGTERM drains: the delivery in flight is acked and its receipt answered, then serve exits 0', async () => {
  const { serve, receipt, held } = await busyBroker();
  serve.child.child.kill('SIGTERM');
  const [line] = await serve.child.line('stdout', /^\{.*"msg":"signal received: draining".*\}$/);
  expect(JSON.parse(line)).toMatchObject({ level: 30, signal: 'SIGTERM', drainTimeoutMs: 20_000 });
  held.ack();
  expect(await receipt).toMatchObject({ stage: 'processing', processed: 1, timedOut: false, queues: ['jobs'] });
  const exit = await serve.child.exited;
  expect(exit).toMatchObject({ code: 0, signal: null, stderr: '' });
  const lines = logLines(exit.stdout);
  expect(lines.find((l) => l.msg === 'broker drained')).toMatchObject({ level: 30, receiptsCutShort: 0 });
  expect(lines.at(-1)).toMatchObject({ msg: 'broker stopped' });
});

test('a second SIGTERM during a drain held open by an unacked delivery exits at once, non-zero', async () => {
  const { serve } = await busyBroker();
  serve.child.child.kill('SIGTERM');
  await serve.child.line('stdout', /"msg":"signal received: draining"/);
  serve.child.child.kill('SIGTERM');
  const exit = await serve.child.exited;
  expect(exit).toMatchObject({ code: 1, signal: null, stderr: '' });
  const messages = logLines(exit.stdout).map((l) => l.msg);
  expect(messages).toContain('signal received again: exiting without waiting');
  expect(messages).not.toContain('broker drained');
});
