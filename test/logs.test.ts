/**
 * What `linden serve` writes: JSON lines on stdout and nothing else, no key twice in a line, and
 * an info line for every admin action naming who asked. Runs the built CLI (`npm run build`).
 */
import { connect, type Client } from '../client-sdk/index.js';
import { LINDEN_VERSION } from '../protocol/version.js';
import { duplicateKeys } from './helpers/json-keys.js';
import { serveProcess } from './helpers/serve-process.js';
import { take } from './helpers/setup.js';
import { serveSuite } from './helpers/serve-suite.js';

type LogLine = Record<string, unknown>;

/** The fields pino adds to every line. */
const stamp = { time: expect.any(Number), pid: expect.any(Number), hostname: expect.any(String), name: 'linden', msg: expect.any(String) };

const suite = serveSuite('linden-logs-');
const { children, clients } = suite;

async function client(url: string, name: string): Promise<Client> {
  const c = await connect(url, { name, reconnect: false });
  clients.push(c);
  return c;
}

/** Every line of `stdout` parsed, after checking it is one JSON object with no key twice. */
function logLines(stdout: string): LogLine[] {
  const lines = stdout.split('\n');
  expect(lines.pop()).toBe(''); // ends with a newline: no partial line
  return lines.map((line) => {
    let parsed: unknown;
    expect(() => (parsed = JSON.parse(line))).not.toThrow();
    expect({ line, duplicates: duplicateKeys(line) }).toEqual({ line, duplicates: [] });
    expect(parsed).toEqual(expect.objectContaining({ level: expect.any(Number), time: expect.any(Number), msg: expect.any(String) }));
    return parsed as LogLine;
  });
}

function withMsg(lines: LogLine[], msg: string): LogLine[] {
  return lines.filter((l) => l.msg === msg);
}

test('the duplicate-key scan finds what JSON.parse hides', () => {
  expect(duplicateKeys('{"name":"linden","a":{"k":1,"k":[{"x":1,"x":2}]},"s":"\\"name\\":","name":"c1"}')).toEqual(['a.k', 'a.k.0.x', 'name']);
  expect(duplicateKeys('{"a":[],"b":{},"c":[1,"2",null,true],"d":{"e":{}}}')).toEqual([]);
});

test('serve writes only JSON lines, none with a key twice, from start to shutdown', async () => {
  const serve = await serveProcess(children, ['--data', suite.dataDir, '--log-level', 'debug']);
  // Debug lines too: "client connected" carries the client's name, which the root logger's
  // `name` once collided with.
  const c = await client(serve.url, 'app');
  await c.createQueue('q', 'q.>');
  await c.publish('q.x', 1, { mode: 'persistent', ack: 'submission' });
  await c.space('s').out(['t', 1]);
  await c.close();
  serve.child.child.kill('SIGINT');
  const exit = await serve.child.exited;
  expect(exit).toMatchObject({ code: 0, stderr: '' });

  const lines = logLines(exit.stdout);
  for (const l of lines) expect(l).toMatchObject({ name: 'linden', pid: serve.child.child.pid });
  expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['store opened', 'broker listening', 'client connected', 'signal received: draining', 'broker drained', 'broker stopped']));
  expect(withMsg(lines, 'broker listening')).toEqual([expect.objectContaining({ level: 30, url: serve.url, sdk: `${serve.url.replace(/^ws/, 'http')}/sdk/linden.js`, console: `${serve.url.replace(/^ws/, 'http')}/`, version: LINDEN_VERSION, protocol: 1 })]);
  expect(withMsg(lines, 'client connected')).toEqual([expect.objectContaining({ level: 20, client: 'app', conn: c.connectionId })]);
  expect(withMsg(lines, 'signal received: draining')).toEqual([expect.objectContaining({ level: 30, signal: 'SIGINT', drainTimeoutMs: 20_000 })]);
  expect(withMsg(lines, 'broker drained')).toEqual([expect.objectContaining({ level: 30, elapsedMs: expect.any(Number), receiptsCutShort: 0 })]);
  // Nothing is logged per message: one publish and one out added no line of their own.
  expect(lines.filter((l) => l.level === 30).map((l) => l.msg)).toEqual([
    'store opened', 'broker listening', 'signal received: draining', 'broker drained', 'broker stopped',
  ]);
});

test('purge, retry, kick and queue delete are logged at info with who asked and what came of it', async () => {
  const serve = await serveProcess(children, ['--data', suite.dataDir]);
  const operator = await client(serve.url, 'operator');
  const asker = { level: 30, conn: operator.connectionId, client: 'operator' };

  await operator.createQueue('jobs', 'jobs.>', { maxDeliveries: 1 });
  for (let n = 0; n < 3; n++) await operator.publish('jobs.x', n, { mode: 'persistent', ack: 'submission' });
  expect(await operator.admin({ op: 'purge', name: 'jobs' })).toEqual({ purged: 3 });

  await operator.publish('jobs.x', 'again', { mode: 'persistent', ack: 'submission' });
  const consumer = operator.subscribe('jobs.>', { durable: 'jobs' });
  for (const m of await take(consumer, 1)) m.nack(); // maxDeliveries 1: straight to jobs.dlq
  consumer.unsubscribe();
  await operator.flush();
  expect(await operator.admin({ op: 'retry', name: 'jobs' })).toEqual({ moved: 1, remaining: 0 });

  const victim = await client(serve.url, 'victim');
  await operator.admin({ op: 'kick', connection: victim.connectionId });

  await operator.deleteQueue('jobs');
  await serve.child.line('stdout', /"msg":"queue deleted"/);
  serve.child.child.kill('SIGTERM');
  const lines = logLines((await serve.child.exited).stdout);

  expect(withMsg(lines, 'queue purged')).toEqual([{ ...asker, action: 'purge', queue: 'jobs', purged: 3, ...stamp }]);
  expect(withMsg(lines, 'dead letters moved back')).toEqual([{ ...asker, action: 'retry', queue: 'jobs', moved: 1, remaining: 0, ...stamp }]);
  expect(withMsg(lines, 'connection kicked')).toEqual([{ ...asker, action: 'kick', target: victim.connectionId, targetClient: 'victim', ...stamp }]);
  expect(withMsg(lines, 'queue deleted')).toEqual([{ ...asker, action: 'qdelete', queue: 'jobs', dropped: 1, detached: 0, ...stamp }]);
});
