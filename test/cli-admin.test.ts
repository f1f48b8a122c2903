/**
 * The CLI's admin commands: `purge`, `dlq retry` and `kick` (admin ops over WebSocket),
 * `--peek` on `queues <name>` and `space <name>`, and `top`. Runs the built CLI against a real
 * broker, as cli-inspect.test.ts does.
 */
import { fileURLToPath } from 'node:url';
import { ChildTracker, type Exit } from './helpers/child-process.js';
import { rawClients } from './helpers/raw-client.js';
import { freePort, take, testBroker } from './helpers/setup.js';
import { requireBuilt } from './helpers/built.js';

// The compiled CLI, exactly as `npx linden` runs it; `npm run build` must have run first.
const MAIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

const t = testBroker();
const raw = rawClients();
const children = new ChildTracker();

/** Runs the CLI against the test broker; a developer's own LINDEN_URL must not steer it. */
function run(args: string[], url = t.broker.url): Promise<Exit> {
  return children.spawn(MAIN, [...args, '--url', url], {}, ['LINDEN_URL']).exited;
}

async function api(path: string): Promise<any> {
  return (await fetch(t.broker.url.replace(/^ws/, 'http') + path)).json();
}

/** The table's rows as arrays of cells (columns are two or more spaces apart). */
function rows(text: string): string[][] {
  return text.trimEnd().split('\n').map((l) => l.trim().split(/\s{2,}/));
}

beforeAll(() => {
  requireBuilt(MAIN);
});

afterEach(async () => {
  await children.killAll();
  await raw.closeAll();
  await t.cleanup();
});

test('purge drops the ready messages and says how many; an unknown queue exits 1', async () => {
  await t.start();
  const c = await t.client();
  await c.createQueue('jobs', 'jobs.>');
  for (let n = 0; n < 3; n++) await c.publish('jobs.x', n, { mode: 'persistent', ack: 'submission' });

  const purged = await run(['purge', 'jobs']);
  expect(purged).toMatchObject({ code: 0, stdout: '', stderr: 'purged 3 ready messages from queue jobs\n' });
  expect(await api('/api/queues/jobs')).toMatchObject({ depth: 0, purged: 3 });
  const again = await run(['purge', 'jobs', '--json']);
  expect(again.code).toBe(0);
  expect(JSON.parse(again.stdout)).toEqual({ purged: 0 });

  const missing = await run(['purge', 'nope']);
  expect(missing).toMatchObject({ code: 1, stdout: '', stderr: `queue "nope" does not exist on the broker at ${t.broker.url}\n` });
});

test('dlq retry moves dead letters back into their queue', async () => {
  await t.start();
  const c = await t.client();
  await c.createQueue('mail', 'mail.>', { maxDeliveries: 1 });
  for (const v of ['a', 'b']) await c.publish('mail.x', v, { mode: 'persistent', ack: 'submission' });
  const sub = c.subscribe<string>('mail.>', { durable: 'mail' });
  for (const m of await take(sub, 2)) m.nack();
  sub.unsubscribe();
  await c.flush();
  expect(await api('/api/queues/mail')).toMatchObject({ deadLetters: 2 });

  const retried = await run(['dlq', 'retry', 'mail', '--json']);
  expect(retried.code).toBe(0);
  expect(JSON.parse(retried.stdout)).toEqual({ moved: 2, remaining: 0 });
  expect(retried.stderr).toBe('moved 2 dead letters from mail.dlq back to mail\n');
  expect(await api('/api/queues/mail')).toMatchObject({ depth: 2, deadLetters: 0, retried: 2 });

  expect(await run(['dlq', 'retry', 'nope'])).toMatchObject({ code: 1, stderr: `queue "nope" does not exist on the broker at ${t.broker.url}\n` });
  // Naming the dead-letter queue itself is a mistake the broker explains.
  await run(['purge', 'mail']);
  const dlqName = await run(['dlq', 'retry', 'mail.dlq']);
  expect(dlqName.code).toBe(2); // the broker refused an argument: a usage error
  expect(dlqName.stderr).toMatch(/^error INVALID_FRAME: "mail\.dlq" is a dead-letter queue/);
});

test('kick closes a connection with 4006; an unknown id exits 1', async () => {
  await t.start();
  const victim = await raw.open(t.broker.url, 'json');
  const { connectionId } = await victim.hello({ name: 'victim' });
  const kicked = await run(['kick', connectionId]);
  expect(kicked).toMatchObject({ code: 0, stdout: '', stderr: `connection ${connectionId} closed (4006)\n` });
  expect(await victim.closed).toEqual({ code: 4006, reason: 'kicked by an operator' });
  expect((await api('/api/connections')).map((x: { id: string }) => x.id)).not.toContain(connectionId);

  const missing = await run(['kick', connectionId]);
  expect(missing).toMatchObject({ code: 1, stderr: `connection "${connectionId}" does not exist on the broker at ${t.broker.url}\n` });
});

test('--peek shows ready messages and tuples without consuming them', async () => {
  await t.start();
  const c = await t.client();
  await c.createQueue('orders', 'orders.>');
  for (const v of [{ id: 1 }, { id: 2 }, { id: 3 }]) await c.publish('orders.eu', v, { mode: 'persistent', ack: 'submission' });
  await c.space('jobs').out(['job', 1]);
  await c.space('jobs').out(['job', 2]);

  const q = await run(['queues', 'orders', '--peek', '2']);
  expect(q.code).toBe(0);
  const peekTable = q.stdout.slice(q.stdout.lastIndexOf('MESSAGE'));
  expect(rows(peekTable)).toEqual([
    ['MESSAGE', 'TOPIC', 'DELIVERIES', 'DATA'],
    [expect.any(String), 'orders.eu', '0', '{"id":1}'],
    [expect.any(String), 'orders.eu', '0', '{"id":2}'],
  ]);
  expect(q.stdout).toMatch(/^rates:\s+\d+(\.\d)? published\/s, 0 acked\/s \(last 10s\)$/m);
  const json = JSON.parse((await run(['queues', 'orders', '--peek', '1', '--json'])).stdout);
  expect(json.peek).toEqual([expect.objectContaining({ topic: 'orders.eu', data: { id: 1 }, deliveries: 0 })]);

  const s = await run(['space', 'jobs', '--peek', '5']);
  expect(s.code).toBe(0);
  expect(rows(s.stdout.slice(s.stdout.indexOf('TUPLE ID')))).toEqual([
    ['TUPLE ID', 'EXPIRES', 'TUPLE'],
    [expect.any(String), '-', '["job",1]'],
    [expect.any(String), '-', '["job",2]'],
  ]);

  expect(await api('/api/queues/orders')).toMatchObject({ depth: 3, delivered: 0 });
  expect(await api('/api/spaces/jobs')).toMatchObject({ tuples: 2, ins: 0 });
  const bad = await run(['queues', 'orders', '--peek', '0']);
  expect(bad.code).toBe(2);
});

test('top --once prints depths and rates once; without it, redraws until Ctrl-C', async () => {
  await t.start();
  const c = await t.client();
  await c.createQueue('busy', 'busy.>');
  for (let n = 0; n < 4; n++) await c.publish('busy.x', n, { mode: 'persistent', ack: 'submission' });
  await c.space('jobs').out(['job']);

  const once = await run(['top', '--once']);
  expect(once.code).toBe(0);
  expect(once.stdout).toMatch(/^linden top {2}ws:\/\/\S+ {2}\d\d:\d\d:\d\d UTC$/m);
  expect(once.stdout).toMatch(/^connections: 1 {2}queues: 1 {2}spaces: 1$/m);
  const lines = rows(once.stdout);
  const q = lines.findIndex((r) => r[0] === 'QUEUE');
  expect(lines[q]).toEqual(['QUEUE', 'READY', 'IN FLIGHT', 'CONSUMERS', 'PUB/S', 'ACK/S', 'DLQ', 'STALLED']);
  expect(lines[q + 1]).toEqual(['busy', '4', '0', '0', expect.stringMatching(/^\d+(\.\d)?$/), '0', '0', 'no consumers']);
  expect(lines[q + 1]![4]).not.toBe('0');
  const s = lines.findIndex((r) => r[0] === 'SPACE');
  expect(lines[s]).toEqual(['SPACE', 'TUPLES', 'WAITING', 'OUT/S', 'IN/S']);
  expect(lines[s + 1]).toEqual(['jobs', '1', '0', expect.stringMatching(/^\d\.\d$/), '0']);

  const json = JSON.parse((await run(['top', '--once', '--json'])).stdout);
  expect(json).toMatchObject({ connections: 1, queues: [{ name: 'busy', depth: 4, publishRate: expect.any(Number) }], spaces: [{ name: 'jobs', outRate: expect.any(Number) }] });

  const live = children.spawn(MAIN, ['top', '--interval', '20', '--url', t.broker.url], {}, ['LINDEN_URL']);
  await live.line('stdout', /^linden top .*Ctrl-C to quit\)$/);
  live.child.kill('SIGINT');
  const exit = await live.exited;
  expect(exit.code).toBe(0);
  expect(exit.stderr).toBe('');
});

test('an unreachable broker or a malformed URL gives a clear message and a non-zero exit', async () => {
  await t.start();
  const url = `ws://127.0.0.1:${await freePort()}`;
  // The WebSocket commands say it as `linden pub` does, the HTTP views as the other views do.
  const overWebSocket = `cannot reach broker at ${url}: connection closed during handshake (1006: connect ECONNREFUSED ${url.slice('ws://'.length)})\n`;
  const overHttp = `cannot reach broker at ${url}: ECONNREFUSED\n`;
  for (const [command, stderr] of [
    [['purge', 'q'], overWebSocket], [['dlq', 'retry', 'q'], overWebSocket], [['kick', 'c1-x'], overWebSocket],
    [['top', '--once'], overHttp], [['queues', 'q', '--peek', '1'], overHttp],
  ] as const) {
    const r = await run([...command], url);
    expect({ command, code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ command, code: 1, stdout: '', stderr });
  }
  const bad = await run(['purge', 'q'], 'not a url');
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/^error: option '--url <ws-url>' argument 'not a url' is invalid\. expected a ws:\/\/ or wss:\/\/ URL/);
});
