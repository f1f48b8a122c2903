/**
 * Last wills (issue 17, protocol.md §4.8): published when a connection ends without the client's
 * clean close (a lost socket, missed heartbeats, an admin kick), not after close(); with a delay,
 * not if the same client reconnects within it; refused at connect when the user may not publish
 * on the will's topic; pending wills at a broker's shutdown are published, those of connections
 * the broker closes itself are not.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WebSocket } from 'ws';
import { connect, type Client, type ConnectOptions, type StatusEvent } from '../client-sdk/index.js';
import type { Broker } from '../server/index.js';
import { rawClients } from './helpers/raw-client.js';
import { take, testBroker, until } from './helpers/setup.js';

const t = testBroker();
const raw = rawClients();
let dataDir: string | undefined;
afterEach(async () => {
  await raw.closeAll();
  await t.cleanup();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

/** The SDK client's socket (a `ws` WebSocket in Node): terminating it is a lost connection, as far as the broker can tell. */
function socketOf(client: Client): WebSocket {
  return (client as unknown as { conn: { socket: WebSocket } }).conn.socket;
}

/** The broker's last-will metrics: pending, and the outcomes so far. */
async function wills(broker: Broker): Promise<{ pending: number; published: number; cancelled: number; dropped: number }> {
  const text = await (await fetch(broker.url.replace(/^ws/, 'http') + '/metrics')).text();
  const value = (pattern: RegExp): number => Number(pattern.exec(text)?.[1] ?? 0);
  return {
    pending: value(/^linden_wills_pending (\d+)$/m),
    published: value(/^linden_wills_total\{outcome="published"\} (\d+)$/m),
    cancelled: value(/^linden_wills_total\{outcome="cancelled"\} (\d+)$/m),
    dropped: value(/^linden_wills_total\{outcome="dropped"\} (\d+)$/m),
  };
}

async function until2<T>(read: () => Promise<T>, holds: (v: T) => boolean): Promise<T> {
  let last: T | undefined;
  await until(() => last !== undefined && holds(last), 5_000, async () => { last = await read(); });
  return last!;
}

/** A subscriber to `status.>`, ready. */
async function watcher() {
  const client = await t.client({ name: 'watcher' });
  const sub = client.subscribe<string>('status.>');
  await sub.ready;
  return { client, sub };
}

const will = (name: string, extra: Partial<NonNullable<ConnectOptions['will']>> = {}): ConnectOptions => ({
  name, reconnect: false, will: { topic: `status.${name}`, data: 'offline', ...extra },
});

test.each(['msgpack', 'json'] as const)('%s: a lost socket publishes the will, through the normal path, to the subscribers of its topic', async (codec) => {
  await t.start();
  const { sub } = await watcher();
  const data = { state: 'offline', bytes: new Uint8Array([1, 2, 3]) };
  const client = await t.client({ ...will('lost', { data }), codec });
  socketOf(client).terminate();
  const [msg] = await take(sub, 1);
  expect({ topic: msg!.topic, data: msg!.data }).toEqual({ topic: 'status.lost', data });
  expect(await wills(t.broker)).toMatchObject({ published: 1, pending: 0 });
});

test('a clean close() drops the will: nothing is published', async () => {
  await t.start();
  const { client: watching, sub } = await watcher();
  const client = await t.client(will('clean'));
  await client.close();
  await until2(() => wills(t.broker), (w) => w.dropped === 1);
  // Had the will gone out, it would be delivered before this later publish.
  await watching.publish('status.clean', 'sentinel');
  const [msg] = await take(sub, 1);
  expect(msg!.data).toBe('sentinel');
  expect((await wills(t.broker)).published).toBe(0);
});

test('an admin kick publishes the will', async () => {
  await t.start();
  const { client: admin, sub } = await watcher();
  const client = await t.client(will('kicked'));
  await admin.admin({ op: 'kick', connection: client.connectionId });
  const [msg] = await take(sub, 1);
  expect({ topic: msg!.topic, data: msg!.data }).toEqual({ topic: 'status.kicked', data: 'offline' });
});

test('missed heartbeats publish the will', async () => {
  await t.start({ heartbeatMs: 100 });
  const { sub } = await watcher();
  // A peer that never answers the broker's pings (a frozen process, a dead network path).
  const silent = await raw.open(t.broker.url, 'json', { autoPong: false });
  await silent.hello({ will: { topic: 'status.silent', data: 'gone' } });
  const [msg] = await take(sub, 1);
  expect({ topic: msg!.topic, data: msg!.data }).toEqual({ topic: 'status.silent', data: 'gone' });
  expect(silent.isClosed || (await silent.closed).code === 1006).toBe(true);
});

test('the connections view and its listing name the will topic', async () => {
  await t.start();
  const client = await t.client(will('listed'));
  const plain = await t.client({ name: 'plain' });
  const list = await plain.admin({ op: 'connections' }) as Array<{ id: string; will: string | null }>;
  expect(list.find((c) => c.id === client.connectionId)?.will).toBe('status.listed');
  expect(list.find((c) => c.id === plain.connectionId)?.will).toBeNull();
});

describe('delay', () => {
  test('a client that reconnects within the delay cancels its will', async () => {
    await t.start();
    const { client: watching, sub } = await watcher();
    const client = await t.client({ ...will('back', { delay: 60_000 }), reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
    const status = client.status();
    socketOf(client).terminate();
    for (let e: StatusEvent | undefined; e?.type !== 'connected';) e = (await status.next()).value as StatusEvent;
    const after = await until2(() => wills(t.broker), (w) => w.cancelled === 1);
    expect(after).toMatchObject({ pending: 0, published: 0 });
    await watching.publish('status.back', 'sentinel');
    expect((await take(sub, 1))[0]!.data).toBe('sentinel');
    // The reconnected client's will is the one in force now: lost again, it waits again.
    const list = await watching.admin({ op: 'connections' }) as Array<{ id: string; will: string | null }>;
    expect(list.find((c) => c.id === client.connectionId)?.will).toBe('status.back');
  });

  test('a newer connection of the same client takes over: the old socket, found dead later, publishes nothing', async () => {
    await t.start();
    const { client: watching, sub } = await watcher();
    const hello = { will: { topic: 'status.twice', data: 'offline', delay: 60_000 }, session: 'same-client' };
    const old = await raw.open(t.broker.url, 'json');
    const { connectionId } = await old.hello(hello);
    const fresh = await raw.open(t.broker.url, 'json');
    await fresh.hello(hello); // the client is back while the broker still holds its old connection
    expect(await until2(() => wills(t.broker), (w) => w.cancelled === 1)).toMatchObject({ pending: 0 });
    old.ws.terminate();
    const ids = async () => (await watching.admin({ op: 'connections' }) as Array<{ id: string }>).map((c) => c.id);
    await until2(ids, (list) => !list.includes(connectionId)); // released: a will would have gone out now
    expect(await wills(t.broker)).toMatchObject({ pending: 0, published: 0, cancelled: 1 });
    await watching.publish('status.twice', 'sentinel');
    expect((await take(sub, 1))[0]!.data).toBe('sentinel');
    // The fresh connection's will is the one in force: lost, it waits out its delay.
    fresh.ws.terminate();
    expect(await until2(() => wills(t.broker), (w) => w.pending === 1)).toMatchObject({ cancelled: 1, published: 0 });
  });

  test('a client that does not come back has its will published once the delay is over, not before', async () => {
    await t.start();
    const { sub } = await watcher();
    const client = await t.client(will('late', { delay: 1_000 }));
    const lost = performance.now();
    socketOf(client).terminate();
    expect(await until2(() => wills(t.broker), (w) => w.pending === 1)).toMatchObject({ published: 0 });
    const [msg] = await take(sub, 1);
    expect(performance.now() - lost).toBeGreaterThanOrEqual(990);
    expect(msg!.topic).toBe('status.late');
    expect(await wills(t.broker)).toMatchObject({ pending: 0, published: 1 });
  });

  test('wills pending at shutdown are published (and stored, when persistent); those of connections the broker closes are not', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'linden-wills-'));
    const first = await t.start({ dataDir });
    const setup = await t.client();
    await setup.createQueue('presence', 'status.>');
    const gone = await t.client(will('gone', { delay: 60_000, mode: 'persistent' }));
    // Still connected when the broker stops: the broker closes it, which is no failure of the client's.
    const stays = await connect(first.url, will('stays', { mode: 'persistent' }));
    socketOf(gone).terminate();
    await until2(() => wills(first), (w) => w.pending === 1);
    await first.close();
    await stays.close();
    await t.cleanup();

    await t.start({ dataDir });
    const reader = await t.client();
    const sub = reader.subscribe<string>('status.>', { durable: 'presence' });
    const [msg] = await take(sub, 1);
    expect({ topic: msg!.topic, data: msg!.data }).toEqual({ topic: 'status.gone', data: 'offline' });
    await msg!.ack();
    await reader.publish('status.sentinel', 'sentinel', { mode: 'persistent', ack: 'submission' });
    expect((await take(sub, 1))[0]!.topic).toBe('status.sentinel');
  });
});

describe('refused at connect', () => {
  const AUTH = {
    users: [{ user: 'alice', password: 'plain:wonderland', permissions: { publish: { allow: ['status.alice'] }, subscribe: { allow: ['status.>'] } } }],
  };

  test('a will topic the user may not publish on: connect() fails with PERMISSION_DENIED', async () => {
    await t.start({ auth: AUTH });
    const err = await connect(t.broker.url, { user: 'alice', password: 'wonderland', reconnect: false, will: { topic: 'status.bob', data: 'offline' } })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'PERMISSION_DENIED', details: { action: 'publish', subject: 'status.bob', field: 'will.topic' } });
    // Its own topic is fine.
    const ok = await t.client({ user: 'alice', password: 'wonderland', will: { topic: 'status.alice', data: 'offline' } });
    expect(ok.connectionId).toMatch(/^c\d+-/);
  });

  test('on the wire: err with the hello id, the connection stays in the handshake and a corrected hello is welcomed', async () => {
    await t.start({ auth: AUTH });
    const c = await raw.open(t.broker.url, 'json');
    const auth = { user: 'alice', password: 'wonderland' };
    const refused = await c.call({ t: 'hello', id: 3, v: 1, auth, will: { topic: 'status.bob', data: 1 } });
    expect(refused).toMatchObject({ t: 'err', re: 3, code: 'PERMISSION_DENIED' });
    const wild = await c.call({ t: 'hello', id: 4, v: 1, auth, will: { topic: 'status.*', data: 1 } });
    expect(wild).toMatchObject({ t: 'err', re: 4, code: 'INVALID_TOPIC' });
    const welcome = await c.call({ t: 'hello', id: 5, v: 1, auth, will: { topic: 'status.alice', data: 1 } });
    expect(welcome).toMatchObject({ t: 'welcome', re: 5 });
  });

  test('a will larger than maxMessageBytes is MESSAGE_TOO_LARGE; bad will options are INVALID_OPTIONS', async () => {
    await t.start({ maxMessageBytes: 1024 });
    const big = await connect(t.broker.url, { reconnect: false, will: { topic: 'status.big', data: 'x'.repeat(2_000) } }).then(() => undefined, (e: unknown) => e);
    expect(big).toMatchObject({ code: 'MESSAGE_TOO_LARGE', details: { field: 'will.data' } });
    for (const bad of [{ topic: 1, data: 1 }, { topic: 'a' }, { topic: 'a', data: 1, delay: -1 }, { topic: 'a', data: 1, retain: 'yes' }, { topic: 'a', data: 1, priority: 1 }]) {
      await expect(connect(t.broker.url, { will: bad as never })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    }
  });
});
