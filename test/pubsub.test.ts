import type { Message } from '../client-sdk/index.js';
import { take } from './helpers/setup.js';
import { sharedTestBroker } from './helpers/shared-brokers.js';

// One broker per set of options for the file (a start per test was most of its time): each test
// uses names of its own and begins once the last test's clients are gone.
const t = sharedTestBroker();
afterEach(() => t.cleanup());

describe('routing', () => {
  test('exact, `*` and `>` patterns receive exactly the topics they match', async () => {
    const pub = await t.client();
    const sub = await t.client();
    const patterns = ['orders.eu.created', 'orders.*.created', 'orders.>', 'orders.*', '>', 'billing.>'];
    const subs = patterns.map((p) => sub.subscribe(p));
    await Promise.all(subs.map((s) => s.ready));

    const receivers = async (topic: string) => (await pub.publish(topic, topic, { ack: 'delivery' })).receivers;
    expect(await receivers('orders.eu.created')).toBe(4); // exact, *.created, orders.>, >
    expect(await receivers('orders.us.created')).toBe(3);
    expect(await receivers('orders.eu')).toBe(3); // orders.*, orders.>, >
    expect(await receivers('orders')).toBe(1); // only > : `orders.>` needs one more token
    expect(await receivers('billing.x.y.z')).toBe(2);

    const got = await take(subs[1]!, 2);
    expect(got.map((m) => m.topic)).toEqual(['orders.eu.created', 'orders.us.created']);
  });

  test('a subscriber receives every message of a stream in publish order', async () => {
    const pub = await t.client();
    const sub = (await t.client()).subscribe<number>('seq.>');
    await sub.ready;
    for (let i = 0; i < 500; i++) void pub.publish(`seq.${i % 7}`, i);
    const got = await take(sub, 500);
    expect(got.map((m) => m.data)).toEqual([...Array(500).keys()]);
  });

  test('invalid topics and patterns are refused with typed errors', async () => {
    const c = await t.client();
    await expect(c.publish('a..b', 1)).rejects.toMatchObject({ code: 'INVALID_TOPIC' });
    await expect(c.publish('a.*', 1)).rejects.toMatchObject({ code: 'INVALID_TOPIC' });
    expect(() => c.subscribe('a.>.b')).toThrow(expect.objectContaining({ code: 'INVALID_PATTERN' }));
    expect(() => c.subscribe('a.b*')).toThrow(expect.objectContaining({ code: 'INVALID_PATTERN' }));
  });

  test('unsubscribe stops delivery and ends the iterator', async () => {
    const c = await t.client();
    const sub = c.subscribe('u.>');
    await sub.ready;
    sub.unsubscribe();
    await c.flush();
    const receipt = await c.publish('u.x', 1, { ack: 'submission' });
    expect(receipt.receivers).toBe(0);
    expect(await take(sub, 1)).toEqual([]);
  });
});

describe('competing consumers', () => {
  test('a group shares messages between members, each exactly once, and counts as one receiver', async () => {
    const pub = await t.client();
    const members = await Promise.all([t.client(), t.client()]);
    const seen: number[][] = [[], []];
    const subs = members.map((m, i) => m.subscribe<number>('jobs.*', { group: 'workers', callback: (msg) => { seen[i]!.push(msg.data); } }));
    let watched = 0;
    const watcher = (await t.client()).subscribe('jobs.*', { callback: () => { watched++; } });
    await Promise.all([...subs.map((s) => s.ready), watcher.ready]);

    const receipts = [];
    for (let i = 0; i < 100; i++) receipts.push(pub.publish('jobs.run', i, { ack: 'processing' }));
    for (const r of await Promise.all(receipts)) {
      expect(r.receivers).toBe(2); // the group and the watcher
      expect(r.processed).toBe(2);
    }
    expect(watched).toBe(100);
    expect(seen[0]!.length).toBeGreaterThan(0);
    expect(seen[1]!.length).toBeGreaterThan(0);
    expect([...seen[0]!, ...seen[1]!].sort((a, b) => a - b)).toEqual([...Array(100).keys()]);
  });
});

describe('synchronisation points', () => {
  test("'none' resolves at once and 'submission' reports the receivers it was routed to", async () => {
    const pub = await t.client();
    const sub = (await t.client()).subscribe('s.x');
    await sub.ready;
    await expect(pub.publish('s.x', 1)).resolves.toBeUndefined();
    const receipt = await pub.publish('s.x', 2, { ack: 'submission' });
    expect(receipt).toMatchObject({ stage: 'submission', receivers: 1, dropped: 0, timedOut: false });
    expect(typeof receipt.id).toBe('string');
  });

  test("'delivery' resolves once every receiver has the message", async () => {
    const pub = await t.client();
    const a = (await t.client()).subscribe('d.x');
    const b = (await t.client({ codec: 'json' })).subscribe('d.*');
    await Promise.all([a.ready, b.ready]);
    const receipt = await pub.publish('d.x', 'hi', { ack: 'delivery', mid: 'm-1' });
    expect(receipt).toMatchObject({ id: 'm-1', stage: 'delivery', receivers: 2, delivered: 2, timedOut: false, missing: [] });
  });

  test("'processing' waits for the handler's ack and reports nacks as failed", async () => {
    const pub = await t.client();
    const worker = await t.client();
    const rejecter = await t.client();
    const sub = worker.subscribe('p.x');
    rejecter.subscribe('p.x', { callback: (msg) => msg.nack('no thanks') });
    await Promise.all([sub.ready, worker.flush(), rejecter.flush()]);

    let acked = false;
    const receiptPromise = pub.publish('p.x', { job: 1 }, { ack: 'processing' });
    const [msg] = await take(sub, 1);
    expect(msg!.wantsAck).toBe(true);
    await pub.flush();
    acked = true;
    msg!.ack();
    const receipt = await receiptPromise;
    expect(acked).toBe(true);
    expect(receipt).toMatchObject({ stage: 'processing', receivers: 2, delivered: 2, processed: 1, failed: 1, timedOut: false });
    expect(receipt.rejected).toEqual([{ connection: rejecter.connectionId, sid: 1, reason: 'no thanks' }]);
  });

  test('a timeout bounds the wait and the receipt names who did not reach the stage', async () => {
    const pub = await t.client();
    const idle = await t.client();
    const sub = idle.subscribe('slow.x'); // iterated by nobody: never acks
    await sub.ready;
    const receipt = await pub.publish('slow.x', 1, { ack: 'processing', timeout: 100 });
    expect(receipt).toMatchObject({ timedOut: true, receivers: 1, delivered: 1, processed: 0 });
    expect(receipt.missing).toEqual([{ connection: idle.connectionId, sid: sub.sid }]);
  });

  test('zero matching receivers is a receipt, not a hang', async () => {
    const pub = await t.client();
    for (const ack of ['submission', 'delivery', 'processing'] as const) {
      expect(await pub.publish('nobody.home', 1, { ack })).toMatchObject({ receivers: 0, timedOut: false });
    }
  });

  test('a receiver that disconnects is reported missing without waiting for the timeout', async () => {
    const pub = await t.client();
    const leaving = await t.client();
    const sub = leaving.subscribe('gone.x');
    await sub.ready;
    const receiptPromise = pub.publish('gone.x', 1, { ack: 'processing', timeout: 60_000 });
    await take(sub, 1);
    await leaving.close();
    const receipt = await receiptPromise;
    expect(receipt).toMatchObject({ timedOut: false, processed: 0 });
    expect(receipt.missing).toHaveLength(1);
  });

  test('a callback subscription acks when the callback resolves and nacks when it throws', async () => {
    const pub = await t.client();
    const c = await t.client();
    c.subscribe<number>('cb.x', {
      callback: async (msg) => {
        if (msg.data < 0) throw new Error('negative');
      },
    });
    await c.flush();
    expect(await pub.publish('cb.x', 1, { ack: 'processing' })).toMatchObject({ processed: 1, failed: 0 });
    expect(await pub.publish('cb.x', -1, { ack: 'processing' })).toMatchObject({ processed: 0, failed: 1 });
  });
});

describe('request/reply', () => {
  test("request resolves with the responder's reply", async () => {
    const responder = await t.client();
    responder.subscribe<{ a: number; b: number }>('math.add', { callback: (msg) => msg.reply(msg.data.a + msg.data.b) });
    await responder.flush();
    const requester = await t.client({ codec: 'json' });
    await expect(requester.request('math.add', { a: 2, b: 3 }, { timeout: 2_000 })).resolves.toBe(5);
  });

  test('a group of responders answers once', async () => {
    const calls: string[] = [];
    for (const name of ['r1', 'r2']) {
      const c = await t.client();
      c.subscribe('svc.echo', { group: 'svc', callback: (msg) => { calls.push(name); msg.reply(msg.data); } });
      await c.flush();
    }
    const requester = await t.client();
    for (let i = 0; i < 4; i++) expect(await requester.request('svc.echo', i)).toBe(i);
    expect(calls).toHaveLength(4);
    expect(new Set(calls).size).toBe(2);
  });

  test('no responders, a silent responder and a rejecting responder each give a typed error', async () => {
    const requester = await t.client();
    await expect(requester.request('nobody.here', 1)).rejects.toMatchObject({ code: 'NO_RESPONDERS' });

    const silent = await t.client();
    const sub = silent.subscribe('silent.svc');
    await sub.ready;
    await expect(requester.request('silent.svc', 1, { timeout: 100 })).rejects.toMatchObject({ code: 'TIMEOUT' });

    const rejecting = await t.client();
    rejecting.subscribe('reject.svc', { callback: (msg) => msg.nack() });
    await rejecting.flush();
    await expect(requester.request('reject.svc', 1)).rejects.toMatchObject({ code: 'REJECTED' });
  });

  test('reply() on a message nobody waits for is a typed error', async () => {
    const c = await t.client();
    const sub = c.subscribe('plain.x');
    await sub.ready;
    await c.publish('plain.x', 1);
    const [msg] = await take(sub, 1);
    expect(() => msg!.reply('x')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('codecs', () => {
  const value = { text: 'héllo ✓', n: 1.5, big: 2 ** 40, neg: -7, list: [1, null, true], nested: { bin: new Uint8Array([0, 255, 7]) } };

  for (const [from, to] of [['msgpack', 'json'], ['json', 'msgpack'], ['json', 'json'], ['msgpack', 'msgpack']] as const) {
    test(`${from} publisher -> ${to} subscriber keeps the value, binary included`, async () => {
      const pub = await t.client({ codec: from });
      const sub = (await t.client({ codec: to })).subscribe('codec.x');
      await sub.ready;
      await pub.publish('codec.x', value);
      const [msg] = await take(sub, 1);
      const data = msg!.data as typeof value;
      expect({ ...data, nested: { bin: new Uint8Array(data.nested.bin) } }).toEqual(value);
    });
  }
});

describe('flow control', () => {
  test('a subscriber over maxPendingBytes gets reported drops, never a silent loss', async () => {
    await t.start({ maxPendingBytes: 2_000 });
    const pub = await t.client();
    const slow = await t.client();
    const status = slow.status();
    const sub = slow.subscribe('flood.x');
    await sub.ready;
    const payload = new Uint8Array(500);
    const receipts = await Promise.all([...Array(20)].map(() => pub.publish('flood.x', payload, { ack: 'submission' })));
    const dropped = receipts.reduce((n, r) => n + r.dropped, 0);
    expect(dropped).toBeGreaterThan(0);
    let event;
    for await (event of status) if (event.type === 'slow-consumer') break;
    expect(event).toMatchObject({ type: 'slow-consumer', where: 'broker' });
    expect(await take(sub, 20 - dropped)).toHaveLength(20 - dropped);
  });

  test('payloads over maxMessageBytes are refused before they are sent', async () => {
    await t.start({ maxFrameBytes: 64 * 1024, maxMessageBytes: 1024 });
    const c = await t.client();
    await expect(c.publish('big.x', new Uint8Array(2048))).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE' });
    await expect(c.publish('big.x', new Uint8Array(512), { ack: 'submission' })).resolves.toMatchObject({ receivers: 0 });
  });
});

describe('messages', () => {
  test('carry topic, id and lazily decoded data', async () => {
    const c = await t.client();
    const sub = c.subscribe<{ x: number }>('m.*');
    await sub.ready;
    await c.publish('m.one', { x: 1 }, { ack: 'submission', mid: 'order-42' });
    const [msg]: Message<{ x: number }>[] = await take(sub, 1);
    expect(msg).toMatchObject({ topic: 'm.one', id: 'order-42', wantsAck: false, isRequest: false });
    expect(msg!.data).toEqual({ x: 1 });
  });
});
