import { connect, type Client, type StatusEvent } from '../client-sdk/index.js';
import { startBroker, type Broker } from '../server/index.js';
import { take } from './helpers/setup.js';

const opened: { brokers: Broker[]; clients: Client[] } = { brokers: [], clients: [] };

async function broker(port = 0): Promise<Broker> {
  const b = await startBroker({ port, logLevel: 'silent' });
  opened.brokers.push(b);
  return b;
}

async function client(url: string, options: Parameters<typeof connect>[1] = {}): Promise<Client> {
  const c = await connect(url, { reconnect: { initialDelayMs: 10, maxDelayMs: 100 }, ...options });
  opened.clients.push(c);
  return c;
}

/** Waits for the next status event of a type. */
async function next(status: AsyncIterator<StatusEvent>, type: StatusEvent['type']): Promise<StatusEvent> {
  for (;;) {
    const { value, done } = await status.next();
    if (done) throw new Error(`status ended before "${type}"`);
    if (value.type === type) return value;
  }
}

afterEach(async () => {
  await Promise.all(opened.clients.splice(0).map((c) => c.close()));
  await Promise.all(opened.brokers.splice(0).map((b) => b.close()));
});

test('after a broker restart the client reconnects, resubscribes and receives again', async () => {
  const first = await broker();
  const c = await client(first.url);
  const status = c.status();
  const sub = c.subscribe<string>('restart.>');
  await sub.ready;

  await first.close();
  expect(await next(status, 'disconnected')).toMatchObject({ type: 'disconnected', code: 1001 });
  expect(await next(status, 'reconnecting')).toMatchObject({ attempt: 1 });

  const second = await broker(first.port);
  await next(status, 'connected');
  await c.flush(); // the resubscription went out before this ping
  const pub = await client(second.url);
  const receipt = await pub.publish('restart.after', 'hello again', { ack: 'delivery' });
  expect(receipt.delivered).toBe(1);
  const [msg] = await take(sub, 1);
  expect(msg!.data).toBe('hello again');
});

test('publishes made while disconnected go out after reconnecting, in order, after the resubscriptions', async () => {
  const first = await broker();
  const c = await client(first.url);
  const status = c.status();
  const sub = c.subscribe<number>('buffered.x');
  await sub.ready;
  await first.close();
  await next(status, 'disconnected');
  const receipts = [1, 2, 3].map((i) => c.publish('buffered.x', i, { ack: 'delivery' }));
  void c.publish('buffered.x', 4);

  await broker(first.port);
  await next(status, 'connected');
  for (const r of await Promise.all(receipts)) expect(r).toMatchObject({ receivers: 1, delivered: 1 });
  expect((await take(sub, 4)).map((m) => m.data)).toEqual([1, 2, 3, 4]);
});

test('a large publish made while disconnected goes out in fragments after reconnecting', async () => {
  const first = await broker();
  const c = await client(first.url, { maxBufferedBytes: 16 * 1024 * 1024 });
  const status = c.status();
  const sub = c.subscribe<Buffer>('buffered.big');
  await sub.ready;
  await first.close();
  await next(status, 'disconnected');
  const big = Buffer.alloc(5 * 1024 * 1024, 7);
  const receipt = c.publish('buffered.big', big, { ack: 'delivery' });

  await broker(first.port);
  await next(status, 'connected');
  expect(await receipt).toMatchObject({ receivers: 1, delivered: 1 });
  const [msg] = await take(sub, 1);
  expect(Buffer.compare(msg!.data, big)).toBe(0);
});

test('the send buffer is bounded while disconnected: BUFFER_FULL, then it works again', async () => {
  const first = await broker();
  const c = await client(first.url, { maxBufferedBytes: 1_000 });
  const status = c.status();
  await first.close();
  await next(status, 'disconnected');
  const results = await Promise.allSettled([...Array(10)].map(() => c.publish('full.x', new Uint8Array(200))));
  const rejected = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
  expect(rejected.length).toBeGreaterThan(0);
  expect(rejected[0]!.reason).toMatchObject({ code: 'BUFFER_FULL' });

  await broker(first.port);
  await next(status, 'connected');
  await expect(c.publish('full.x', 1, { ack: 'submission' })).resolves.toMatchObject({ stage: 'submission' });
});

test('a receipt awaited when the connection drops fails with DISCONNECTED', async () => {
  const b = await broker();
  const pub = await client(b.url);
  const idle = await client(b.url, { reconnect: false });
  const sub = idle.subscribe('drop.x');
  await sub.ready;
  const receipt = pub.publish('drop.x', 1, { ack: 'processing', timeout: 60_000 });
  await take(sub, 1);
  await pub.flush();
  const failed = expect(receipt).rejects.toMatchObject({ code: 'DISCONNECTED' });
  // The connection drops under the publisher (a broker that stops answers its receipts instead: test/drain.test.ts).
  await idle.admin({ op: 'kick', connection: pub.connectionId });
  await failed;
});

test('without reconnect the client closes for good and says so', async () => {
  const b = await broker();
  const c = await client(b.url, { reconnect: false });
  const status = c.status();
  const sub = c.subscribe('x.y');
  await sub.ready;
  await b.close();
  await next(status, 'closed');
  await expect(c.publish('x.y', 1)).rejects.toMatchObject({ code: 'CLOSED' });
  await expect(take(sub, 1)).rejects.toMatchObject({ code: 'DISCONNECTED' });
});

test('connect() to a closed port fails with CONNECTION_REFUSED', async () => {
  const b = await broker();
  const { url } = b;
  await b.close();
  await expect(connect(url, { reconnect: false })).rejects.toMatchObject({ code: 'CONNECTION_REFUSED' });
});

test('close() ends subscriptions and status iterators cleanly', async () => {
  const b = await broker();
  const c = await connect(b.url);
  const status = c.status();
  const sub = c.subscribe('bye.x');
  await sub.ready;
  await c.close();
  expect(await take(sub, 1)).toEqual([]);
  expect(await next(status, 'closed')).toEqual({ type: 'closed' });
});
