import { Redis } from 'ioredis';
import type { Client } from '../client-sdk/index.js';
import { interestSeen, testCluster } from './helpers/cluster.js';
import { RedisServer } from './helpers/redis-server.js';
import { take, until } from './helpers/setup.js';

// Three brokers on one Redis, in this process: what crosses nodes is the Redis bus either way.
let redis: RedisServer;
const t = testCluster();

beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis.destroy();
});
beforeEach(async () => {
  await t.start(redis.url, 3);
});
afterEach(() => t.cleanup());

describe('cluster pub/sub', () => {
  test('a publish reaches the matching subscribers of every node, wildcards included, and its receipt counts them', async () => {
    const [a, b, c] = await Promise.all([t.client(0), t.client(1), t.client(2)]);
    const patterns: [Client, string][] = [[a, 'orders.>'], [b, 'orders.*.created'], [b, 'orders.eu.created'], [c, 'orders.*'], [c, '>']];
    const subs = patterns.map(([client, p]) => client.subscribe<string>(p));
    await Promise.all(subs.map((s) => s.ready));
    await interestSeen(a, [a, b, c], 1); // and `>`

    const receivers = async (topic: string) => (await a.publish(topic, topic, { ack: 'submission' })).receivers;
    expect(await receivers('orders.eu.created')).toBe(4); // orders.>, *.created, exact, >
    expect(await receivers('orders.us')).toBe(3); // orders.>, orders.*, >
    expect(await receivers('billing')).toBe(1); // >
    expect((await take(subs[1]!, 1)).map((m) => m.data)).toEqual(['orders.eu.created']);
    expect((await take(subs[3]!, 1)).map((m) => m.data)).toEqual(['orders.us']);
    const everything: unknown[] = [];
    for await (const m of subs[4]!) if (!m.topic.startsWith('probe.') && everything.push(m.data) === 3) break;
    expect(everything).toEqual(['orders.eu.created', 'orders.us', 'billing']);
  });

  test('a stream from one node arrives in order at a subscriber on another', async () => {
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    const sub = b.subscribe<number>('seq.>');
    await sub.ready;
    await interestSeen(a, [b]);
    for (let i = 0; i < 300; i++) void a.publish(`seq.${i % 5}`, i);
    expect((await take(sub, 300)).map((m) => m.data)).toEqual([...Array(300).keys()]);
  });

  test('a message crosses nodes whole: JSON and MessagePack clients, headers, ids', async () => {
    const [a, b] = await Promise.all([t.client(0), t.client(1, { codec: 'json' })]);
    const sub = b.subscribe<{ n: number[] }>('mixed.x');
    await sub.ready;
    await interestSeen(a, [b]);
    const receipt = await a.publish('mixed.x', { n: [1, 2] }, { ack: 'delivery', headers: { trace: 't-1' } });
    const [m] = await take(sub, 1);
    expect(m).toMatchObject({ topic: 'mixed.x', id: receipt.id, data: { n: [1, 2] }, headers: { trace: 't-1' } });
    // And back: a JSON responder answers a MessagePack requester on another node.
    b.subscribe<number>('mixed.inc', { callback: (msg) => msg.reply(msg.data + 1) });
    await interestSeen(a, [b]);
    expect(await a.request('mixed.inc', 1)).toBe(2);
  });

  test('a queue group spread over three nodes gets each message once, shared by every node', async () => {
    const clients = await Promise.all([t.client(0), t.client(1), t.client(1), t.client(2)]);
    const seen = clients.map(() => [] as number[]);
    const subs = clients.map((client, i) => client.subscribe<number>('jobs.*', { group: 'workers', callback: (m) => { seen[i]!.push(m.data); } }));
    await Promise.all(subs.map((s) => s.ready));
    const pub = await t.client(0);
    await interestSeen(pub, clients);
    const total = 400;
    for (let i = 0; i < total; i++) void pub.publish('jobs.run', i);
    await until(() => seen.flat().length >= total);
    await pub.flush();
    const all = seen.flat().sort((x, y) => x - y);
    expect(all).toEqual([...Array(total).keys()]); // none lost, none twice
    // Weighted by members: each of the four members gets about a quarter.
    for (const got of seen) expect(got.length).toBeGreaterThan(total / 8);
  });

  test('delivery and processing receipts count receivers on other nodes and name those who did not answer', async () => {
    const [a, b, c] = await Promise.all([t.client(0), t.client(1), t.client(2)]);
    b.subscribe('work.x', { callback: () => undefined }); // acks
    c.subscribe('work.x', { callback: (m) => { if (m.data === 'no') throw new Error('refused'); } });
    const silent = c.subscribe('work.x'); // an iterator nobody reads: never acks
    await silent.ready;
    await interestSeen(a, [b, c]);

    const delivery = await a.publish('work.x', 'yes', { ack: 'delivery' });
    expect(delivery).toMatchObject({ stage: 'delivery', receivers: 3, delivered: 3, timedOut: false, missing: [] });

    const processing = await a.publish('work.x', 'no', { ack: 'processing', timeout: 1_000 });
    expect(processing).toMatchObject({ stage: 'processing', receivers: 3, delivered: 3, processed: 1, failed: 1, timedOut: true });
    expect(processing.missing).toEqual([{ connection: expect.stringMatching(/^c\d+-/), sid: silent.sid }]);
    expect(processing.rejected).toEqual([expect.objectContaining({ sid: expect.any(Number), reason: expect.stringContaining('refused') })]);
  });

  test('request/reply works with the responder on another node', async () => {
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    const responder = b.subscribe<{ x: number }>('math.double', { callback: (m) => m.reply(m.data.x * 2) });
    await responder.ready;
    await interestSeen(a, [b]);
    expect(await a.request('math.double', { x: 21 })).toBe(42);
    await expect(a.request('nobody.home', 1)).rejects.toMatchObject({ code: 'NO_RESPONDERS' });
  });

  test('an unsubscribe on one node stops deliveries published on another', async () => {
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    const sub = b.subscribe('gone.x');
    await sub.ready;
    await interestSeen(a, [b]);
    expect((await a.publish('gone.x', 1, { ack: 'submission' })).receivers).toBe(1);
    sub.unsubscribe();
    await b.flush();
    let receivers = -1;
    await until(() => receivers === 0, 5_000, async () => { receivers = (await a.publish('gone.x', 2, { ack: 'submission' })).receivers; });
  });
});

describe('cluster membership', () => {
  test('metrics show whether a node is connected, how many others it knows and the messages between them', async () => {
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    const sub = b.subscribe('m.x');
    await sub.ready;
    await interestSeen(a, [b]);
    for (let i = 0; i < 10; i++) await a.publish('m.x', i);
    await take(sub, 10);
    const metric = async (node: number, line: RegExp) => {
      const text = await (await fetch(t.brokers[node]!.url.replace(/^ws/, 'http') + '/metrics')).text();
      return Number(line.exec(text)?.[1]);
    };
    expect(await metric(0, /^linden_cluster_connected (\d+)$/m)).toBe(1);
    let nodes = 0;
    await until(() => nodes === 2, 5_000, async () => { nodes = await metric(0, /^linden_cluster_nodes (\d+)$/m); });
    expect(await metric(0, /^linden_cluster_messages_total\{direction="out"\} (\d+)$/m)).toBeGreaterThanOrEqual(10);
    expect(await metric(1, /^linden_cluster_messages_total\{direction="in"\} (\d+)$/m)).toBeGreaterThanOrEqual(10);
  });

  test('a node whose subscriber connection Redis closed catches up on what it missed and receives again', async () => {
    const [a, b] = await Promise.all([t.client(0), t.client(1)]);
    const before = b.subscribe<string>('before.x');
    await before.ready;
    await interestSeen(a, [b]);
    const admin = new Redis(redis.url);
    try {
      // Every node's subscription connection (sharded channels) at once, as Redis does to one fallen behind.
      await admin.client('KILL', 'TYPE', 'pubsub');
    } finally {
      admin.disconnect();
    }
    const after = b.subscribe<string>('after.x'); // announced while the others may not listen
    await after.ready;
    await interestSeen(a, [b]);
    await a.publish('after.x', 'later');
    await a.publish('before.x', 'still');
    expect((await take(after, 1)).map((m) => m.data)).toEqual(['later']);
    expect((await take(before, 1)).map((m) => m.data)).toEqual(['still']);
  });
});
