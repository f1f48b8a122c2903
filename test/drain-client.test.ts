/**
 * The SDK and a draining broker (protocol.md §1.6, README "Signals and drain"): connect() to a
 * list of brokers, the `draining` status event, finishing what is in flight, then moving to the
 * next broker with publishes held back, and a publish refused with DRAINING sent again there.
 */
import { connect, type Client, type ConnectOptions, type StatusEvent } from '../client-sdk/index.js';
import { startBroker, type Broker, type BrokerOptions } from '../server/index.js';
import { freePort, take } from './helpers/setup.js';

const opened: { brokers: Broker[]; clients: Client[] } = { brokers: [], clients: [] };

async function broker(options: BrokerOptions = {}): Promise<Broker> {
  const b = await startBroker({ port: 0, logLevel: 'silent', ...options });
  opened.brokers.push(b);
  return b;
}

async function client(servers: string | string[], options: ConnectOptions = {}): Promise<Client> {
  const c = await connect(servers, { reconnect: { initialDelayMs: 10, maxDelayMs: 50 }, ...options });
  opened.clients.push(c);
  return c;
}

/** Status events as they come, and a way to wait for the next one of a type. */
function watch(c: Client): { seen: StatusEvent[]; next(type: StatusEvent['type']): Promise<StatusEvent> } {
  const seen: StatusEvent[] = [];
  const it = c.status();
  let read = 0;
  return {
    seen,
    async next(type) {
      for (;;) {
        while (read < seen.length) {
          const e = seen[read++]!;
          if (e.type === type) return e;
        }
        const { value, done } = await it.next();
        if (done) throw new Error(`status ended before "${type}"; saw ${JSON.stringify(seen)}`);
        seen.push(value);
      }
    },
  };
}

afterEach(async () => {
  await Promise.all(opened.clients.splice(0).map((c) => c.close()));
  await Promise.all(opened.brokers.splice(0).map((b) => b.close()));
});

test('with two brokers, the client moves to the second when the first drains, and keeps publishing and subscribing', async () => {
  const [a, b] = [await broker(), await broker()];
  const c = await client([a.url, b.url]);
  expect(c.url).toBe(a.url);
  const status = watch(c);
  const sub = c.subscribe<number>('moved.>');
  await sub.ready;
  expect(await c.publish('moved.before', 1, { ack: 'delivery' })).toMatchObject({ delivered: 1 });

  // Sent before the drain begins, handled after: the first broker refuses it with DRAINING and
  // the client sends it again to the second one.
  const raced = c.publish('moved.raced', 2, { ack: 'delivery' });
  const drained = a.drain();
  const draining = await status.next('draining');
  expect(draining).toEqual({ type: 'draining', url: a.url, ms: expect.any(Number) });
  expect((draining as { ms: number }).ms).toBeGreaterThan(19_000); // drainTimeoutMs, less the time it took to say so
  // Made during the drain: held back for the next broker.
  const during = c.publish('moved.during', 3, { ack: 'delivery' });
  expect(await status.next('disconnected')).toEqual({ type: 'disconnected', code: 1000, reason: 'broker draining' });
  expect(await status.next('connected')).toMatchObject({ type: 'connected', url: b.url });
  expect(c.url).toBe(b.url);
  await drained;

  // The subscription came along, ahead of the held publishes.
  expect(await raced).toMatchObject({ receivers: 1, delivered: 1 });
  expect(await during).toMatchObject({ receivers: 1, delivered: 1 });
  expect(await c.publish('moved.after', 4, { ack: 'delivery' })).toMatchObject({ delivered: 1 });
  expect((await take(sub, 4)).map((m) => m.data)).toEqual([1, 2, 3, 4]);
  expect(status.seen.filter((e) => e.type === 'error')).toEqual([]);
});

test('a consumer finishes the message it is processing on the draining broker before it leaves', async () => {
  const [a, b] = [await broker(), await broker()];
  const publisher = await client(a.url, { reconnect: false });
  const consumer = await client([a.url, b.url]);
  const status = watch(consumer);
  const sub = consumer.subscribe<string>('work.>');
  await sub.ready;
  const receipt = publisher.publish('work.x', 'job', { ack: 'processing' });
  const [msg] = await take(sub, 1);

  const drained = a.drain();
  await status.next('draining');
  await consumer.flush(); // a round trip to the draining broker: the consumer is still there
  expect(status.seen.map((e) => e.type)).not.toContain('disconnected');
  msg!.ack();
  expect(await receipt).toMatchObject({ processed: 1, timedOut: false, missing: [] });
  await status.next('disconnected');
  expect(await status.next('connected')).toMatchObject({ url: b.url });
  await drained;
});

test('a publisher waiting for processing from a consumer that never acks gets timedOut, not success, at drainTimeoutMs', async () => {
  const a = await broker({ drainTimeoutMs: 300 });
  const publisher = await client(a.url, { reconnect: false });
  const consumer = await client(a.url, { reconnect: false });
  const sub = consumer.subscribe('work.>');
  await sub.ready;
  const receipt = publisher.publish('work.x', 'job', { ack: 'processing', timeout: 60_000 });
  await take(sub, 1); // and never acked
  await a.drain();
  expect(await receipt).toMatchObject({ processed: 0, timedOut: true, missing: [{ connection: consumer.connectionId, sid: 1 }] });
});

test('connect() with a list tries each broker in turn; with none answering it fails with CONNECTION_REFUSED', async () => {
  const b = await broker();
  const dead = `ws://127.0.0.1:${await freePort()}`;
  const c = await client([dead, b.url]);
  expect(c.url).toBe(b.url);
  await expect(connect([dead, `ws://127.0.0.1:${await freePort()}`])).rejects.toMatchObject({ code: 'CONNECTION_REFUSED' });
  await expect(connect([])).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
});
