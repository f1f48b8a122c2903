/**
 * The state and counters of durable queues say what happened (issue 20): a message whose ttl
 * passed while a consumer held it or while it waited out a nack delay does not come back to the
 * line; an undeliverable dead letter is not called expired; a refused publish is not counted as
 * published; a connection that is closing gets no delivery. Raw frames, both codecs.
 */
import type { CodecName } from '../protocol/version.js';
import { type RawClient } from './helpers/raw-client.js';
import { until } from './helpers/setup.js';
import { protocolSuite } from './helpers/protocol-suite.js';

const { t, raw } = protocolSuite();

async function view(name: string): Promise<Record<string, any>> {
  return (await (await fetch(`${t.broker.url.replace(/^ws/, 'http')}/api/queues/${name}`)).json()) as Record<string, any>;
}

/** Polls the queue's view until `done` holds for it; resolves with that view. */
async function viewWhen(name: string, done: (v: Record<string, any>) => boolean): Promise<Record<string, any>> {
  let last: Record<string, any> = {};
  let looking = false;
  await until(() => {
    if (!looking) {
      looking = true;
      void view(name).then((v) => { last = v; looking = false; });
    }
    return done(last);
  });
  return last;
}

async function metric(name: string): Promise<number | undefined> {
  const text = await (await fetch(`${t.broker.url.replace(/^ws/, 'http')}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

const CODECS: CodecName[] = ['json', 'msgpack'];
/** Long enough for the consumer to receive both messages first, even on a busy machine. */
const TTL = 800;

describe.each(CODECS)('%s', (codec) => {
  test('a message whose ttl passes in flight or during a nack delay leaves instead of coming back to the line', async () => {
    await t.start();
    const c = await raw.connect(t.broker.url, codec);
    await c.call({ t: 'qcreate', id: 1, name: 'short', pattern: 'short.>' });
    await c.call({ t: 'sub', id: 2, sid: 1, pattern: 'short.>', durable: 'short' });
    const sent = Date.now();
    for (const id of [3, 4]) await c.call({ t: 'pub', id, topic: 'short.x', data: c.data(id), mode: 'persistent', ack: 'submission', ttl: TTL });
    const first = await c.next((m) => m.t === 'msg');
    const second = await c.next((m) => m.t === 'msg');
    expect(Date.now() - sent).toBeLessThan(TTL); // else the test proves nothing
    c.send({ t: 'nack', tag: second.tag, delay: 600_000 }); // waits out a delay far past its ttl

    // The delayed one leaves when its ttl ends, not when its delay does.
    expect(await viewWhen('short', (v) => v.expired === 1)).toMatchObject({ messages: 1, inFlight: 1, delayed: 0, depth: 0, bytes: expect.any(Number) });
    expect(Date.now() - sent).toBeGreaterThanOrEqual(TTL);

    // The one in flight is not recalled; when it comes back (its consumer leaves), it leaves.
    await c.call({ t: 'unsub', id: 5, sid: 1 });
    expect(await view('short')).toMatchObject({ expired: 2, messages: 0, inFlight: 0, delayed: 0, depth: 0, bytes: 0 });
    c.send({ t: 'ack', tag: first.tag }); // spent: ignored
    await c.sync();
  });

  test('a refused persistent publish is not counted as published', async () => {
    await t.start();
    const c = await raw.connect(t.broker.url, codec);
    await c.call({ t: 'qcreate', id: 1, name: 'one', pattern: 'one.>', maxMessages: 1 });
    expect((await c.call({ t: 'pub', id: 2, topic: 'one.x', data: c.data(1), mode: 'persistent', ack: 'submission' })).t).toBe('receipt');
    expect(await c.call({ t: 'pub', id: 3, topic: 'one.x', data: c.data(2), mode: 'persistent', ack: 'submission' })).toMatchObject({ code: 'QUEUE_FULL' });
    expect(await metric('linden_messages_in_total{mode="persistent"}')).toBe(1);
    expect(await view('one')).toMatchObject({ published: 1 });
  });

  test('a connection that is closing gets no delivery: what it held is redelivered counting one delivery each', async () => {
    await t.start();
    const leaving = await raw.connect(t.broker.url, codec);
    await leaving.call({ t: 'qcreate', id: 1, name: 'work', pattern: 'work.>', maxInFlight: 2, maxDeliveries: 2 });
    await leaving.call({ t: 'sub', id: 2, sid: 1, pattern: 'work.>', durable: 'work' });
    for (const id of [3, 4]) await leaving.call({ t: 'pub', id, topic: 'work.x', data: leaving.data(id), mode: 'persistent', ack: 'submission' });
    await leaving.next((m) => m.t === 'msg' && m.sid === 1);
    await leaving.next((m) => m.t === 'msg' && m.sid === 1);
    // A second consumer on the same connection, with room: it must not inherit the first one's messages as the connection closes.
    await leaving.call({ t: 'sub', id: 5, sid: 2, pattern: 'work.>', durable: 'work' });
    await leaving.close();
    expect(await viewWhen('work', (v) => v.consumers === 0)).toMatchObject({ delivered: 2, depth: 2, deadLettered: 0 });

    const next = await raw.connect(t.broker.url, codec);
    await next.call({ t: 'sub', id: 1, sid: 1, pattern: 'work.>', durable: 'work' });
    const again = [await next.next((m) => m.t === 'msg'), await next.next((m) => m.t === 'msg')];
    expect(again.map((m) => m.dc)).toEqual([2, 2]);
    for (const m of again) next.send({ t: 'ack', tag: m.tag });
    expect(await viewWhen('work', (v) => v.acked === 2)).toMatchObject({ delivered: 4, redelivered: 2, deadLettered: 0, messages: 0 });
  });
});

test('a dead letter no consumer of the dead-letter queue can read is dropped, not expired', async () => {
  await t.start();
  const publisher = await raw.connect(t.broker.url, 'msgpack');
  await publisher.call({ t: 'qcreate', id: 1, name: 'bin', pattern: 'bin.>' });
  // 0xc1 is never valid MessagePack: stored as it came, it cannot be converted for a JSON consumer.
  await publisher.call({ t: 'pub', id: 2, topic: 'bin.x', data: Buffer.from([0xc1]), mode: 'persistent', ack: 'submission' });
  const reader: RawClient = await raw.connect(t.broker.url, 'json');
  await reader.call({ t: 'sub', id: 1, sid: 1, pattern: 'bin.>', durable: 'bin' });
  expect(await viewWhen('bin', (v) => v.deadLettered === 1)).toMatchObject({ expired: 0, messages: 0 });
  await reader.call({ t: 'sub', id: 2, sid: 2, pattern: '>', durable: 'bin.dlq' });
  expect(await viewWhen('bin.dlq', (v) => v.messages === 0)).toMatchObject({ expired: 0, dropped: 1, delivered: 0 });
  expect(reader.unread().filter((m) => m.t === 'msg')).toEqual([]);
});
