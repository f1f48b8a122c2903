/**
 * The interceptor API on both sides: order, transformation, async hooks keeping frame order,
 * rejection with typed errors, message-level hooks, and removing the built-in fragmentation.
 */
import { LindenError, fragmentation, type Frame, type Interceptor } from '../client-sdk/index.js';
import { take, testBroker } from './helpers/setup.js';

const t = testBroker();
afterEach(() => t.cleanup());

/** An interceptor that logs `name:direction:t` for pub and msg frames. */
function recorder(name: string, log: string[]): Interceptor {
  const note = (direction: string) => (frame: Frame) => {
    if (frame.t === 'pub' || frame.t === 'msg') log.push(`${name}:${direction}:${frame.t}`);
  };
  return { name, outbound: note('out'), inbound: note('in') };
}

describe('order', () => {
  test('outbound hooks run first to last, inbound last to first, on the client and the broker', async () => {
    const log: string[] = [];
    await t.start({ interceptors: [recorder('B1', log), recorder('B2', log), fragmentation()] });
    const sub = (await t.client({ interceptors: [recorder('S1', log), recorder('S2', log)] })).subscribe('x');
    await sub.ready;
    const pub = await t.client({ interceptors: [recorder('P1', log), recorder('P2', log)] });
    await pub.publish('x', 1, { ack: 'submission' });
    await take(sub, 1);
    expect(log).toEqual(['P1:out:pub', 'P2:out:pub', 'B2:in:pub', 'B1:in:pub', 'S2:in:msg', 'S1:in:msg']);
  });

  test('async hooks may take their time: frames still leave and arrive in order', async () => {
    const jitter: Interceptor = {
      name: 'jitter',
      async outbound(frame) {
        if (frame.t === 'pub') await new Promise((r) => setTimeout(r, Math.random() * 3));
      },
    };
    await t.start({ interceptors: [{ name: 'broker-jitter', inbound: jitter.outbound }, fragmentation()] });
    const pub = await t.client({ interceptors: [jitter] });
    const sub = (await t.client()).subscribe<number>('seq');
    await sub.ready;
    for (let i = 0; i < 50; i++) void pub.publish('seq', i);
    const got = await take(sub, 50);
    expect(got.map((m) => m.data)).toEqual([...Array(50).keys()]);
  });
});

describe('transformation', () => {
  test('a client hook may replace a frame, a broker hook may change what is routed', async () => {
    const renamer: Interceptor = {
      name: 'renamer',
      outbound: (frame) => (frame.t === 'pub' && frame.topic === 'old' ? { ...frame, topic: 'new' } : undefined),
    };
    const tagger: Interceptor = {
      name: 'tagger',
      inbound: (frame) => (frame.t === 'out' ? { ...frame, tuple: [...(frame.tuple as unknown[]), 'tagged'] } : undefined),
    };
    await t.start({ interceptors: [tagger, fragmentation()] });
    const sub = (await t.client()).subscribe('new');
    await sub.ready;
    const c = await t.client({ interceptors: [renamer, fragmentation()] });
    await c.publish('old', 'hello', { ack: 'submission' });
    const [msg] = await take(sub, 1);
    expect(msg!.topic).toBe('new');

    const space = c.space('s');
    await space.out(['job', 1]);
    expect(await space.inp(['job', 1, 'tagged'])).toEqual(['job', 1, 'tagged']);
  });
});

describe('rejection', () => {
  const denyTopic = (side: 'outbound' | 'inbound'): Interceptor => ({
    name: 'deny',
    [side]: (frame: Frame) => {
      if (frame.t === 'pub' && frame.topic === 'secret') throw new LindenError('INVALID_ARGUMENT', 'topic "secret" is not allowed');
    },
  });

  test('a client hook that throws fails the operation with its error, nothing is sent', async () => {
    const sub = (await t.client()).subscribe('secret');
    await sub.ready;
    const c = await t.client({ interceptors: [denyTopic('outbound')] });
    await expect(c.publish('secret', 1, { ack: 'delivery' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(c.publish('secret', 1)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const ok = await c.publish('open', 1, { ack: 'delivery' });
    expect(ok.receivers).toBe(0);
  });

  test('an async client hook that rejects fails its request', async () => {
    const c = await t.client({
      interceptors: [{ name: 'async-deny', outbound: async (f) => { if (f.t === 'out') throw new LindenError('INVALID_TUPLE', 'no tuples today'); } }],
    });
    await expect(c.space('s').out(['x'])).rejects.toMatchObject({ code: 'INVALID_TUPLE', message: 'no tuples today' });
  });

  test('a broker hook that throws answers the sender with an err frame naming its request', async () => {
    await t.start({ interceptors: [denyTopic('inbound'), fragmentation()] });
    const sub = (await t.client()).subscribe('secret');
    await sub.ready;
    const c = await t.client();
    await expect(c.publish('secret', 1, { ack: 'submission' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT', message: 'topic "secret" is not allowed',
    });
    expect((await c.publish('other', 1, { ack: 'submission' })).stage).toBe('submission');
  });

  test('a broker hook that throws something else is INTERNAL_ERROR, and the connection goes on', async () => {
    await t.start({ interceptors: [{ name: 'buggy', inbound: (f) => { if (f.t === 'pub') throw new Error('bug'); } }] });
    const c = await t.client();
    await expect(c.publish('x', 1, { ack: 'submission' })).rejects.toMatchObject({ code: 'INTERNAL_ERROR' });
    await expect(c.flush()).resolves.toBeUndefined();
  });

  test('a client inbound hook that refuses a delivery nacks it, so the publisher learns at once', async () => {
    const refuse: Interceptor = {
      name: 'refuse',
      inbound: (f) => { if (f.t === 'msg') throw new LindenError('INVALID_ARGUMENT', 'not for me'); },
    };
    const consumer = await t.client({ interceptors: [refuse] });
    const status = consumer.status();
    const sub = consumer.subscribe('jobs');
    await sub.ready;
    const pub = await t.client();
    const receipt = await pub.publish('jobs', 1, { ack: 'processing', timeout: 30_000 });
    expect(receipt).toMatchObject({ processed: 0, failed: 1, timedOut: false });
    expect(receipt.rejected[0]).toMatchObject({ reason: 'not for me' });
    for (;;) {
      const { value } = await status.next();
      if (value?.type === 'error') {
        expect(value.error.code).toBe('INVALID_ARGUMENT');
        break;
      }
    }
  });
});

describe('message level', () => {
  test('link hooks see encoded messages over minBytes, and may pass them on', async () => {
    const seen: number[] = [];
    const counter: Interceptor = {
      name: 'counter',
      link: (link) => ({
        minBytes: 1000,
        send(piece) {
          seen.push(piece.length);
          link.send(piece);
        },
      }),
    };
    const c = await t.client({ interceptors: [counter, fragmentation()] });
    const sub = c.subscribe<string>('m');
    await sub.ready;
    await c.publish('m', 'small', { ack: 'delivery' });
    await c.publish('m', 'x'.repeat(5000), { ack: 'delivery' });
    const got = await take(sub, 2);
    expect(got.map((m) => m.data.length)).toEqual([5, 5000]);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeGreaterThan(5000);
  });

  test('without fragmentation on a client the broker sends it messages whole, and limits its message size to a frame', async () => {
    await t.start({ maxFrameBytes: 64 * 1024 });
    const plain = await t.client({ interceptors: [] });
    expect(plain.limits!.maxMessageBytes).toBe(64 * 1024 - 8 * 1024);
    const full = await t.client();
    expect(full.limits!.maxMessageBytes).toBe(64 * 1024 * 1024);
    await expect(plain.publish('x', Buffer.alloc(60 * 1024))).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE' });

    const sub = plain.subscribe<Buffer>('x');
    await sub.ready;
    await full.publish('x', Buffer.alloc(40 * 1024, 1), { ack: 'delivery' });
    const [msg] = await take(sub, 1);
    expect(msg!.data.length).toBe(40 * 1024);
  });

  test('a broker without fragmentation announces none, and clients then send whole messages', async () => {
    await t.start({ interceptors: [], maxFrameBytes: 64 * 1024 });
    const c = await t.client();
    expect(c.limits!.maxMessageBytes).toBe(64 * 1024 - 8 * 1024);
    const sub = c.subscribe<Buffer>('y');
    await sub.ready;
    await c.publish('y', Buffer.alloc(50 * 1024, 2), { ack: 'delivery' });
    const [msg] = await take(sub, 1);
    expect(msg!.data.length).toBe(50 * 1024);
  });
});
