import { fileURLToPath } from 'node:url';
import { connectionTable } from '../cli/commands/inspect-connections.js';
import { ChildTracker, type Exit } from './helpers/child-process.js';
import { freePort, take, testBroker } from './helpers/setup.js';
import { requireBuilt } from './helpers/built.js';

// The compiled CLI, exactly as `npx linden` runs it; `npm run build` must have run first.
const MAIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

const t = testBroker();
const children = new ChildTracker();

/** Runs the CLI against the test broker; a developer's own LINDEN_URL must not steer it. */
function run(args: string[], url = t.broker.url): Promise<Exit> {
  return children.spawn(MAIN, [...args, '--url', url], {}, ['LINDEN_URL']).exited;
}

async function api(path: string): Promise<unknown> {
  return (await fetch(t.broker.url.replace(/^ws/, 'http') + path)).json();
}

/** `--json` output: JSON Lines, one object per line; anything else on a line fails the parse. */
function jsonLines(stdout: string): unknown[] {
  expect(stdout.endsWith('\n') || stdout === '').toBe(true);
  return stdout.split('\n').slice(0, -1).map((line) => {
    const value = JSON.parse(line) as unknown;
    expect(typeof value === 'object' && value !== null && !Array.isArray(value)).toBe(true);
    return value;
  });
}

/** The table's rows as arrays of cells (columns are two or more spaces apart). */
function rows(stdout: string): string[][] {
  return stdout.trimEnd().split('\n').map((l) => l.trim().split(/\s{2,}/));
}

beforeAll(() => {
  requireBuilt(MAIN);
});

afterEach(async () => {
  await children.killAll();
  await t.cleanup();
});

/** A broker holding two queues (one stalled on maxInFlight), two spaces and named connections. */
async function populate(): Promise<void> {
  await t.start();
  const shop = await t.client({ name: 'shop', will: { topic: 'status.shop', data: 'offline' } });
  await shop.createQueue('billing', 'orders.>', { maxInFlight: 1 });
  await shop.createQueue('empty', 'nothing.>');
  for (let n = 0; n < 3; n++) await shop.publish('orders.eu', { n }, { mode: 'persistent', ack: 'submission' });
  const worker = await t.client({ name: 'worker', codec: 'json' });
  await take(worker.subscribe('orders.>', { durable: 'billing' }), 1);
  await worker.flush();
  await shop.space('jobs').out(['job', 1]);
  await shop.space('kept', { persistent: true }).out(['k', 'v']);
}

test('queues: an aligned table, and --json prints the API answer, one queue per line', async () => {
  await populate();
  const table = await run(['queues']);
  expect(table.stderr).toBe('');
  expect(table.code).toBe(0);
  const [header, billing, empty] = rows(table.stdout);
  expect(header).toEqual(['NAME', 'PATTERN', 'READY', 'IN FLIGHT', 'CONSUMERS', 'DLQ', 'SIZE', 'OLDEST', 'ACKED', 'PUB/S', 'ACK/S', 'STALLED']);
  expect(billing).toEqual([
    'billing', 'orders.>', '2', '1', '1', '0', expect.stringMatching(/^\d+ B$/), expect.stringMatching(/ago$/), '0',
    expect.stringMatching(/^\d+(\.\d)?$/), '0', 'all consumers at maxInFlight',
  ]);
  expect(empty).toEqual(['empty', 'nothing.>', '0', '0', '0', '0', '0 B', '-', '0', '0', '0', '-']);
  // Columns line up: numbers end under the right edge of their header, text starts under its start.
  const [h, b, e] = table.stdout.trimEnd().split('\n') as [string, string, string];
  const readyEnd = h.indexOf('READY') + 'READY'.length;
  expect([b[readyEnd - 1], b[readyEnd], e[readyEnd - 1]]).toEqual(['2', ' ', '0']);
  expect(b.indexOf('all consumers')).toBe(h.indexOf('STALLED'));
  expect(e.length - 1).toBe(h.indexOf('STALLED'));

  const json = await run(['queues', '--json']);
  expect(json.code).toBe(0);
  const fromCli = jsonLines(json.stdout) as Array<Record<string, unknown>>;
  const fromApi = (await api('/api/queues')) as Array<Record<string, unknown>>;
  // Ages and rates move with the clock between the two requests.
  const stable = (list: Array<Record<string, unknown>>) => list.map(({ oldestAgeMs: _age, publishRate: _p, ackRate: _a, ...rest }) => rest);
  expect(stable(fromCli)).toEqual(stable(fromApi));
  expect(Object.keys(fromCli[0]!)).toEqual(expect.arrayContaining([
    'name', 'pattern', 'depth', 'inFlight', 'consumers', 'deadLetters', 'oldestAgeMs', 'stalled', 'publishRate', 'ackRate',
  ]));
});

test('queues <name> shows the detail with consumers; an unknown name exits 1 with a message', async () => {
  await populate();
  const detail = await run(['queues', 'billing']);
  expect(detail.code).toBe(0);
  expect(detail.stdout).toMatch(/^queue:\s+billing$/m);
  expect(detail.stdout).toMatch(/^stalled:\s+all consumers at maxInFlight$/m);
  expect(detail.stdout).toMatch(/^messages:\s+3 \(2 ready, 1 in flight, 0 delayed\), \d+ B$/m);
  expect(detail.stdout).toMatch(/^settings:\s+ackWait 30s, maxInFlight 1,/m);
  expect(detail.stdout).toMatch(/^c\d+-\S+\s+worker\s+\d+\s+1\/1$/m);
  expect(detail.stdout).toMatch(/^MESSAGE\s+TOPIC\s+SIZE\s+AGE\s+DELIVERIES\s+STATE$/m);
  expect(detail.stdout).toMatch(/^\S+\s+orders\.eu\s+\d+ B\s+\S+\s+1\s+in flight$/m);
  expect(detail.stdout.match(/\s+orders\.eu\s+\d+ B\s+\S+\s+0\s+ready$/gm)).toHaveLength(2);

  const json = await run(['queues', 'billing', '--json']);
  expect(JSON.parse(json.stdout)).toMatchObject({ name: 'billing', depth: 2, inFlight: 1, consumerList: [{ name: 'worker', inFlight: 1 }] });

  const missing = await run(['queues', 'nope']);
  expect(missing.code).toBe(1);
  expect(missing.stdout).toBe('');
  expect(missing.stderr).toBe(`queue "nope" does not exist on the broker at ${t.broker.url}\n`);
});

test('spaces and space <name>', async () => {
  await populate();
  const list = await run(['spaces']);
  expect(list.code).toBe(0);
  expect(rows(list.stdout)).toEqual([
    ['NAME', 'MODE', 'TUPLES', 'SIZE', 'WAITING', 'NOTIFY', 'OUTS', 'INS', 'OUT/S', 'IN/S'],
    ['jobs', 'transient', '1', expect.stringMatching(/^\d+ B$/), '0', '0', '1', '0', expect.stringMatching(/^\d\.\d$/), '0'],
    ['kept', 'persistent', '1', expect.stringMatching(/^\d+ B$/), '0', '0', '1', '0', expect.stringMatching(/^\d\.\d$/), '0'],
  ]);
  const noRates = (list: Array<Record<string, unknown>>) => list.map(({ outRate: _o, inRate: _i, ...rest }) => rest);
  expect(noRates(jsonLines((await run(['spaces', '--json'])).stdout) as Array<Record<string, unknown>>)).toEqual(noRates((await api('/api/spaces')) as Array<Record<string, unknown>>));

  const one = await run(['space', 'kept']);
  expect(one.code).toBe(0);
  expect(one.stdout).toMatch(/^mode:\s+persistent \(kept in the store\)$/m);
  expect(one.stdout).toMatch(/^tuples:\s+1, \d+ B$/m);
  expect(noRates([JSON.parse((await run(['space', 'kept', '--json'])).stdout)])).toEqual(noRates([(await api('/api/spaces/kept')) as Record<string, unknown>]));

  const missing = await run(['space', 'ghost']);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toBe(`space "ghost" does not exist on the broker at ${t.broker.url}\n`);
});

test('connections lists the clients by name with codec and counts', async () => {
  await populate();
  const list = await run(['connections']);
  expect(list.code).toBe(0);
  const [header, ...lines] = rows(list.stdout);
  expect(header).toEqual(['ID', 'NAME', 'ADDRESS', 'CODEC', 'SUBS', 'PENDING', 'STALLED', 'IN', 'OUT', 'DROPPED', 'WILL']);
  const byName = new Map(lines.map((r) => [r[1], r]));
  expect(byName.get('worker')).toEqual([expect.stringMatching(/^c\d+-/), 'worker', '127.0.0.1', 'json', '1', '0 B', '-', expect.any(String), '1', '0', '-']);
  expect(byName.get('shop')?.[3]).toBe('msgpack');
  expect(byName.get('shop')?.[10]).toBe('status.shop'); // the topic of its last will
  // The CLI's own request is plain HTTP, so it is not a connection.
  const json = jsonLines((await run(['connections', '--json'])).stdout) as Array<{ name: string }>;
  expect(json.map((c) => c.name).sort()).toEqual(['shop', 'worker']);
});

test('connections shows how long the output of a stalled connection has been over its budget with nothing taken', () => {
  const stalled = {
    id: 'c7-x', name: null, remoteAddress: '127.0.0.1', codec: 'msgpack', subscriptions: 1,
    pendingBytes: 9_000_000, stalledMs: 4_200, messagesIn: 2, messagesOut: 5, dropped: 30, will: 'status.c7',
  };
  expect(rows(connectionTable([stalled]))[1]).toEqual(['c7-x', '-', '127.0.0.1', 'msgpack', '1', '8.6 MiB', '4s', '2', '5', '30', 'status.c7']);
});

test('subscriptions lists live subscribers per pattern', async () => {
  await populate();
  const list = await run(['subscriptions']);
  expect(list.code).toBe(0);
  expect(rows(list.stdout)).toEqual([
    ['PATTERN', 'GROUP', 'DURABLE', 'SUBSCRIBERS', 'CONNECTIONS'],
    ['orders.>', '-', 'billing', '1', expect.stringMatching(/^c\d+-/)],
  ]);
  expect(jsonLines((await run(['subscriptions', '--json'])).stdout)).toEqual(await api('/api/subscriptions'));
});

test('stats summarises the broker and names stalled queues', async () => {
  await populate();
  const text = await run(['stats']);
  expect(text.code).toBe(0);
  expect(text.stdout).toMatch(/^status:\s+ok, store memory/m);
  expect(text.stdout).toMatch(/^stalled:\s+billing \(all consumers at maxInFlight\)$/m);
  const json = JSON.parse((await run(['stats', '--json'])).stdout);
  expect(json).toMatchObject({
    status: 'ok', store: 'memory', durable: false,
    connections: { count: 2 },
    queues: { count: 2, depth: 2, inFlight: 1, deadLetters: 0, stalled: [{ name: 'billing', reason: 'all consumers at maxInFlight' }] },
    spaces: { count: 2, tuples: 2 },
  });
});

test('an unreachable broker or a malformed URL gives a clear message and a non-zero exit', async () => {
  await t.start();
  const url = `ws://127.0.0.1:${await freePort()}`;
  for (const view of [['queues'], ['queues', 'x'], ['spaces'], ['space', 'x'], ['connections'], ['subscriptions'], ['stats']]) {
    const r = await run(view, url);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`cannot reach broker at ${url}: ECONNREFUSED\n`);
  }
  for (const url of ['not a url', 'http://127.0.0.1:7070', 'ftp://x']) {
    const bad = await run(['queues'], url);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: option '--url <ws-url>' argument '.*' is invalid\. expected a ws:\/\/ or wss:\/\/ URL/);
  }
});
