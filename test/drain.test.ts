/**
 * broker.drain() and close() as raw clients see them (protocol.md §1.6): the `drain` message,
 * DRAINING for publishes and writes while acks and reads go on, no new durable delivery, and
 * receipts answered honestly, never as a success, when the broker stops before they settle.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Client } from '../client-sdk/index.js';
import { startBroker, type Broker } from '../server/index.js';
import type { RawClient } from './helpers/raw-client.js';
import { protocolSuite } from './helpers/protocol-suite.js';
import { take } from './helpers/setup.js';

const { t, raw } = protocolSuite();

/** A publisher and a consumer subscribed on `jobs.>`, both raw, on a fresh broker. */
async function pair(options: Parameters<typeof t.start>[0] = {}): Promise<{ broker: Broker; publisher: RawClient; consumer: RawClient }> {
  const broker = await t.start(options);
  // The consumer first: a broker closing connections in order would drop it before the publisher.
  const consumer = await raw.connect(broker.url, 'json');
  expect(await consumer.call({ t: 'sub', id: consumer.id(), sid: 1, pattern: 'jobs.>' })).toMatchObject({ t: 'ok' });
  const publisher = await raw.connect(broker.url, 'json');
  return { broker, publisher, consumer };
}

test('drain: a `drain` message, DRAINING for pub, out and batch outs, while acks, reads and takes still work', async () => {
  const { broker, publisher, consumer } = await pair();
  await publisher.call({ t: 'out', id: publisher.id(), space: 's', tuple: ['job', 1], ack: 'submission' });
  const waiting = publisher.id();
  publisher.send({ t: 'pub', id: waiting, topic: 'jobs.a', data: 'first', ack: 'processing' });
  const msg = await consumer.next((m) => m.t === 'msg');

  const drained = broker.drain({ timeoutMs: 10_000 });
  for (const c of [publisher, consumer]) {
    const notice = await c.next((m) => m.t === 'drain');
    expect(notice.ms).toBeGreaterThan(9_000);
    expect(notice.ms).toBeLessThanOrEqual(10_000);
  }
  expect(await publisher.call({ t: 'pub', id: publisher.id(), topic: 'jobs.b', data: 2, ack: 'submission' })).toMatchObject({ t: 'err', code: 'DRAINING' });
  expect(await publisher.call({ t: 'pub', id: publisher.id(), topic: 'jobs.c', data: 3, ack: 'processing', reply: true })).toMatchObject({ t: 'err', code: 'DRAINING' });
  expect(await publisher.call({ t: 'out', id: publisher.id(), space: 's', tuple: ['job', 2], ack: 'submission' })).toMatchObject({ t: 'err', code: 'DRAINING' });
  expect(await publisher.call({ t: 'batch', id: publisher.id(), space: 's', steps: [{ op: 'out', tuple: ['job', 3] }] })).toMatchObject({ t: 'err', code: 'DRAINING' });
  // Reading and taking what is there still works: consumers finish what they hold.
  expect(await consumer.call({ t: 'rd', id: consumer.id(), space: 's', template: ['job', { $any: true }], wait: false })).toMatchObject({ t: 'tuple', tuple: ['job', 1] });
  expect(await consumer.call({ t: 'batch', id: consumer.id(), space: 's', steps: [{ op: 'inp', template: ['job', 1] }] })).toMatchObject({ t: 'batched' });
  expect(await consumer.call({ t: 'unsub', id: consumer.id(), sid: 1 })).toMatchObject({ t: 'ok' });
  // The ack of the delivery in flight is taken, and completes the receipt the drain waited for.
  consumer.send({ t: 'ack', tag: msg.tag });
  expect(await publisher.reply(waiting)).toMatchObject({ t: 'receipt', stage: 'processing', processed: 1, timedOut: false, missing: [] });

  await drained;
  expect(await publisher.closed).toEqual({ code: 1001, reason: 'broker shutting down' });
  expect(await consumer.closed).toEqual({ code: 1001, reason: 'broker shutting down' });
  await expect(raw.open(broker.url, 'json')).rejects.toThrow(/ECONNREFUSED/);
});

test('drain: a processing receipt whose consumer never acks is answered at drainTimeoutMs as timed out, naming it', async () => {
  const { broker, publisher, consumer } = await pair({ drainTimeoutMs: 300 });
  const id = publisher.id();
  publisher.send({ t: 'pub', id, topic: 'jobs.a', data: 'never acked', ack: 'processing', timeout: 60_000 });
  await consumer.next((m) => m.t === 'msg');
  const started = Date.now();
  await broker.drain();
  expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  await publisher.next((m) => m.t === 'drain');
  const receipt = await publisher.reply(id);
  expect(receipt).toMatchObject({ stage: 'processing', receivers: 1, delivered: 0, processed: 0, timedOut: true });
  expect(receipt.missing).toEqual([{ connection: expect.any(String), sid: 1 }]);
  // The receipt left before the close.
  expect(publisher.unread()).toEqual([]);
  expect(await publisher.closed).toMatchObject({ code: 1001 });
});

test('drain: an `out` waiting for a taker is answered at drainTimeoutMs as timed out', async () => {
  const broker = await t.start({ drainTimeoutMs: 200 });
  const writer = await raw.connect(broker.url, 'msgpack');
  const id = writer.id();
  writer.send({ t: 'out', id, space: 'jobs', tuple: ['job', 1], ack: 'processing', timeout: 60_000 });
  await writer.sync();
  await broker.drain();
  expect(await writer.reply(id)).toMatchObject({ t: 'lease', stage: 'processing', reached: false, timedOut: true });
});

test('close(): a receipt still waiting is answered as timed out, not as a success, before the connections close', async () => {
  const { broker, publisher, consumer } = await pair();
  const id = publisher.id();
  publisher.send({ t: 'pub', id, topic: 'jobs.a', data: 'in flight', ack: 'processing', timeout: 60_000 });
  const msg = await consumer.next((m) => m.t === 'msg');
  consumer.send({ t: 'rcv', tags: [msg.tag] });
  await consumer.sync();
  await broker.close();
  expect(await publisher.reply(id)).toMatchObject({ stage: 'processing', delivered: 1, processed: 0, timedOut: true, missing: [{ sid: 1 }] });
  expect(publisher.messages.some((m) => m.t === 'drain')).toBe(false);
  expect(await publisher.closed).toMatchObject({ code: 1001 });
});

test('drain: an upgrade whose request began before the drain is refused with 503', async () => {
  const { broker, publisher, consumer } = await pair();
  publisher.send({ t: 'pub', id: publisher.id(), topic: 'jobs.a', data: 1, ack: 'processing' });
  const { tag } = await consumer.next((m) => m.t === 'msg');
  // A request under way when the port stops listening (only idle connections are closed then).
  const socket = createConnection(broker.port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  const drained = broker.drain();
  await consumer.next((m) => m.t === 'drain');
  socket.write('Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: linden.v1.json\r\n\r\n');
  let answer = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => { answer += chunk; });
  await once(socket, 'end');
  expect(answer).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n[^]*the broker is draining/);
  consumer.send({ t: 'ack', tag });
  await drained;
});

describe('persistent messages', () => {
  let dataDir: string;
  const clients: Client[] = [];
  const brokers: Broker[] = [];
  beforeEach(async () => { dataDir = await mkdtemp(join(tmpdir(), 'linden-drain-')); });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(brokers.splice(0).map((b) => b.close()));
    await rm(dataDir, { recursive: true, force: true });
  });

  async function broker(port = 0): Promise<Broker> {
    const b = await startBroker({ port, dataDir, logLevel: 'silent', drainTimeoutMs: 5_000 });
    brokers.push(b);
    return b;
  }

  async function client(url: string): Promise<Client> {
    const c = await connect(url, { reconnect: { initialDelayMs: 10, maxDelayMs: 50 } });
    clients.push(c);
    return c;
  }

  test('drain: no durable delivery starts; what was not delivered is there after the restart', async () => {
    const first = await broker();
    const consumer = await raw.connect(first.url, 'json');
    expect(await consumer.call({ t: 'sub', id: consumer.id(), sid: 1, pattern: 'q.>', durable: 'q', maxInFlight: 1 })).toMatchObject({ t: 'ok' });
    for (const n of [1, 2]) {
      expect(await consumer.call({ t: 'pub', id: consumer.id(), topic: 'q.x', data: n, mode: 'persistent', ack: 'submission' })).toMatchObject({ t: 'receipt' });
    }
    const one = await consumer.next((m) => m.t === 'msg');
    expect(one.data).toBe(1);
    const drained = first.drain();
    await consumer.next((m) => m.t === 'drain');
    consumer.send({ t: 'ack', tag: one.tag }); // frees the consumer: the second is not sent all the same
    await drained;
    expect(consumer.messages.filter((m) => m.t === 'msg')).toHaveLength(1);

    await broker(first.port);
    const rest = (await client(first.url)).subscribe<number>('q.>', { durable: 'q' });
    expect((await take(rest, 1)).map((m) => [m.data, m.deliveryCount])).toEqual([[2, 1]]);
  });

  test('drain with publishers and consumers in flight: every acknowledged message is processed, on this broker or after the restart', async () => {
    const N = 200;
    const first = await broker();
    const publisher = await client(first.url);
    const consumer = await client(first.url);
    await publisher.createQueue('work', 'work.>', { maxInFlight: 8 });
    const processed = new Set<string>();
    let allProcessed!: () => void;
    const done = new Promise<void>((resolve) => { allProcessed = resolve; });
    const sub = consumer.subscribe<number>('work.>', {
      durable: 'work',
      // Acked a turn later, so deliveries are in flight when the drain begins.
      callback: async (m) => {
        await new Promise((resolve) => setImmediate(resolve));
        processed.add(m.id);
        if (processed.size === N) allProcessed();
      },
    });
    await sub.ready;

    const receipts: Promise<unknown>[] = [];
    let drained: Promise<void> | undefined;
    for (let i = 0; i < N; i++) {
      receipts.push(publisher.publish('work.x', i, { mode: 'persistent', ack: 'submission', msgId: `m${i}` }));
      // Half way: some publishes acknowledged, some on their way, some not yet made.
      if (i === N / 2) drained = receipts[10]!.then(() => first.drain());
    }
    await drained;
    const beforeRestart = processed.size;
    expect(beforeRestart).toBeLessThan(N);

    // The same folder and port: both clients come back by themselves, the publisher sends what it
    // held back during the drain, and the consumer gets what the first broker left stored.
    const second = await broker(first.port);
    expect(await Promise.all(receipts)).toHaveLength(N);
    await done;
    for (let i = 0; i < N; i++) expect(processed.has(`m${i}`)).toBe(true);
    await consumer.flush();
    expect(await consumer.admin({ op: 'queue', name: 'work' })).toMatchObject({ messages: 0 });
    expect(second.url).toBe(first.url);
  }, 20_000);
});
