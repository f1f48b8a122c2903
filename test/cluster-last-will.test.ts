/**
 * Last wills in cluster mode (protocol.md §4.8): a will goes through the normal publish path, so
 * it reaches the subscribers of every node, and a persistent one the queues in Redis. A client
 * that comes back to another node within the delay cancels it there (the hello is announced on the bus).
 */
import type { WebSocket } from 'ws';
import { connect, type Client, type StatusEvent } from '../client-sdk/index.js';
import { interestSeen, testCluster } from './helpers/cluster.js';
import { RedisServer } from './helpers/redis-server.js';
import { take, until } from './helpers/setup.js';
import type { Broker } from '../server/index.js';

let redis: RedisServer;
const t = testCluster();

beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis.destroy();
});
beforeEach(async () => {
  await t.start(redis.url, 2);
});
afterEach(() => t.cleanup());

function socketOf(client: Client): WebSocket {
  return (client as unknown as { conn: { socket: WebSocket } }).conn.socket;
}

test('the will of a client lost on one node reaches a subscriber on another', async () => {
  const watcher = await t.client(1);
  const sub = watcher.subscribe<string>('status.>');
  await sub.ready;
  const client = await t.client(0, { reconnect: false, will: { topic: 'status.a', data: 'offline' } });
  await interestSeen(client, [watcher]);
  socketOf(client).terminate();
  const [msg] = await take(sub, 1);
  expect({ topic: msg!.topic, data: msg!.data }).toEqual({ topic: 'status.a', data: 'offline' });
});

test('a persistent will is stored in the cluster\'s queues', async () => {
  const setup = await t.client(1);
  await setup.createQueue('presence', 'status.>');
  const client = await t.client(0, { reconnect: false, will: { topic: 'status.b', data: 'offline', mode: 'persistent' } });
  socketOf(client).terminate();
  const [msg] = await take(setup.subscribe<string>('status.>', { durable: 'presence' }), 1);
  expect({ topic: msg!.topic, data: msg!.data }).toEqual({ topic: 'status.b', data: 'offline' });
  msg!.ack();
});

test('coming back to another node within the delay cancels the will there too (the hello is announced over the bus)', async () => {
  const watcher = await t.client(1);
  const sub = watcher.subscribe<string>('status.>');
  await sub.ready;
  // Node 0 first; after the loss the SDK moves on to the next URL, node 1.
  const client = await connect(t.brokers.map((b) => b.url), { reconnect: { initialDelayMs: 10, maxDelayMs: 50 }, will: { topic: 'status.c', data: 'offline', delay: 60_000 } });
  try {
    await interestSeen(client, [watcher]);
    const status = client.status();
    socketOf(client).terminate();
    for (let e: StatusEvent | undefined; e?.type !== 'connected';) e = (await status.next()).value as StatusEvent;
    expect(client.url).toBe(t.brokers[1]!.url);
    // Node 0 lost the connection and holds the will: it is cancelled there, whichever came first.
    let cancelled = 0;
    await until(() => cancelled === 1, 10_000, async () => { cancelled = (await willMetrics(t.brokers[0]!)).cancelled; });
    expect(await willMetrics(t.brokers[0]!)).toEqual({ pending: 0, published: 0, cancelled: 1 });
    await watcher.publish('status.c', 'sentinel');
    expect((await take(sub, 1))[0]!.data).toBe('sentinel');
  } finally {
    await client.close();
  }
});

async function willMetrics(broker: Broker): Promise<{ pending: number; published: number; cancelled: number }> {
  const text = await (await fetch(broker.url.replace(/^ws/, 'http') + '/metrics')).text();
  const value = (pattern: RegExp): number => Number(pattern.exec(text)?.[1] ?? 0);
  return {
    pending: value(/^linden_wills_pending (\d+)$/m),
    published: value(/^linden_wills_total\{outcome="published"\} (\d+)$/m),
    cancelled: value(/^linden_wills_total\{outcome="cancelled"\} (\d+)$/m),
  };
}
