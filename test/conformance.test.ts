/**
 * Places where the broker and protocol.md once disagreed (issue 11), checked over raw frames in
 * both codecs: `queues` in receipts, the message limit a connection is told and held to, JSON
 * fragments within the frame limit, integers written as MessagePack integers, and the order of
 * checks.
 */
import { readFileSync } from 'node:fs';
import { Unpackr } from 'msgpackr';
import type { CodecName } from '../protocol/version.js';
import { type RawClient, type Received } from './helpers/raw-client.js';
import { protocolSuite } from './helpers/protocol-suite.js';

const { t, raw } = protocolSuite();

const CODECS: CodecName[] = ['json', 'msgpack'];

describe.each(CODECS)('%s', (codec) => {
  describe('queues in receipts: every receipt of a persistent message, at every stage', () => {
    test.each(['submission', 'delivery', 'processing'] as const)('%s', async (ack) => {
      const broker = await t.start();
      const c = await raw.connect(broker.url, codec);
      expect((await c.call({ t: 'qcreate', id: 1, name: 'billing', pattern: 'orders.>' })).t).toBe('ok');
      expect((await c.call({ t: 'qcreate', id: 2, name: 'audit', pattern: 'orders.eu.*' })).t).toBe('ok');
      const consumer = await raw.connect(broker.url, codec);
      await consumer.call({ t: 'sub', id: 1, sid: 1, pattern: 'orders.>', durable: 'billing' });
      await consumer.call({ t: 'sub', id: 2, sid: 2, pattern: 'orders.eu.*', durable: 'audit' });
      const settle = (async () => {
        for (let i = 0; i < 2; i++) {
          const msg = await consumer.next((m) => m.t === 'msg');
          consumer.send({ t: 'ack', tag: msg.tag });
        }
      })();
      const receipt = await c.call({
        t: 'pub', id: 3, topic: 'orders.eu.created', data: c.data({ n: 1 }), mode: 'persistent', ack, timeout: 5_000,
      });
      await settle;
      expect(receipt).toMatchObject({ t: 'receipt', stage: ack, receivers: 2, timedOut: false });
      expect([...receipt.queues].sort()).toEqual(['audit', 'billing']);

      // Nothing matches: still there, empty.
      const none = await c.call({ t: 'pub', id: 4, topic: 'nobody.here', data: c.data(1), mode: 'persistent', ack, timeout: 1_000 });
      expect(none).toMatchObject({ stage: ack, receivers: 0, queues: [] });

      // A transient message never has it.
      const transient = await c.call({ t: 'pub', id: 5, topic: 'orders.eu.created', data: c.data(1), ack, timeout: 1_000 });
      expect(transient.t).toBe('receipt');
      expect(transient).not.toHaveProperty('queues');
    });

    test('a repeated mid: queues is [] (nothing stored)', async () => {
      const broker = await t.start();
      const c = await raw.connect(broker.url, codec);
      await c.call({ t: 'qcreate', id: 1, name: 'billing', pattern: 'orders.>' });
      const pub = { t: 'pub', topic: 'orders.eu', data: c.data(1), mode: 'persistent', ack: 'submission', mid: 'order-1' };
      expect(await c.call({ ...pub, id: 2 })).toMatchObject({ queues: ['billing'] });
      expect(await c.call({ ...pub, id: 3 })).toMatchObject({ duplicate: true, receivers: 0, queues: [] });
    });
  });

  describe('a client without fragmentation is held to the limit it is told', () => {
    const FRAME = 64 * 1024;
    const LIMIT = FRAME - 8192;

    async function start(): Promise<RawClient> {
      const broker = await t.start({ maxFrameBytes: FRAME });
      const c = await raw.open(broker.url, codec);
      const welcome = await c.hello(); // no ext: no fragmentation
      expect(welcome.limits.maxMessageBytes).toBe(LIMIT);
      return c;
    }

    /** A payload whose size, as §3.4 measures it, is exactly `bytes`. */
    function payload(c: RawClient, bytes: number): unknown {
      return codec === 'msgpack' ? new Uint8Array(bytes) : 'x'.repeat(bytes - 2);
    }

    const tooLarge = (bytes: number) => ({ t: 'err', code: 'MESSAGE_TOO_LARGE', details: { bytes, limit: LIMIT } });

    test('pub: limit passes, limit + 1 is MESSAGE_TOO_LARGE', async () => {
      const c = await start();
      expect(await c.call({ t: 'pub', id: 1, topic: 'big', data: payload(c, LIMIT), ack: 'submission' })).toMatchObject({ t: 'receipt' });
      expect(await c.call({ t: 'pub', id: 2, topic: 'big', data: payload(c, LIMIT + 1), ack: 'submission' })).toMatchObject({ ...tooLarge(LIMIT + 1), re: 2 });
    });

    // A tuple is measured as its MessagePack encoding whatever the codec: fixarray, str16 header, text.
    const tuple = (bytes: number) => ['x'.repeat(bytes - 4)];

    test('out: limit passes, limit + 1 is MESSAGE_TOO_LARGE', async () => {
      const c = await start();
      expect(await c.call({ t: 'out', id: 1, space: 's', tuple: tuple(LIMIT), ack: 'submission' })).toMatchObject({ t: 'lease' });
      expect(await c.call({ t: 'out', id: 2, space: 's', tuple: tuple(LIMIT + 1), ack: 'submission' })).toMatchObject({ ...tooLarge(LIMIT + 1), re: 2 });
    });

    test('a batch out step: limit passes, limit + 1 is MESSAGE_TOO_LARGE and changes nothing', async () => {
      const c = await start();
      expect(await c.call({ t: 'batch', id: 1, space: 's', steps: [{ op: 'out', tuple: tuple(LIMIT) }] })).toMatchObject({ t: 'batched' });
      const err = await c.call({ t: 'batch', id: 2, space: 's', steps: [{ op: 'inp', template: [{ $any: true }] }, { op: 'out', tuple: tuple(LIMIT + 1) }] });
      expect(err).toMatchObject({ t: 'err', re: 2, code: 'MESSAGE_TOO_LARGE', details: { bytes: LIMIT + 1, limit: LIMIT } });
      expect(await c.call({ t: 'count', id: 3, space: 's', template: [{ $any: true }] })).toMatchObject({ t: 'counted', count: 1 });
    });

    test('a reply: limit + 1 is MESSAGE_TOO_LARGE, then limit reaches the requester', async () => {
      const responder = await start();
      const requester = await raw.connect(t.broker.url, codec);
      await responder.call({ t: 'sub', id: 1, sid: 1, pattern: 'svc' });
      requester.send({ t: 'pub', id: 2, topic: 'svc', data: requester.data('?'), ack: 'processing', reply: true, timeout: 5_000 });
      const request = await responder.next((m) => m.t === 'msg');
      responder.send({ t: 'ack', tag: request.tag, data: payload(responder, LIMIT + 1) });
      expect(await responder.error('MESSAGE_TOO_LARGE')).toMatchObject(tooLarge(LIMIT + 1));
      responder.send({ t: 'ack', tag: request.tag, data: payload(responder, LIMIT) });
      const receipt = await requester.reply(2);
      expect(receipt).toMatchObject({ t: 'receipt', processed: 1 });
      const reply = receipt.data as Uint8Array | string; // the payload as sent: a bin, or JSON text
      expect(codec === 'msgpack' ? (reply as Uint8Array).length : Buffer.byteLength(JSON.stringify(reply))).toBe(LIMIT);
    });
  });
});

describe('JSON fragments stay within the frame limit however much needs escaping', () => {
  // Quotes and backslashes double when a slice of JSON text is written as a JSON string again;
  // control characters, already escaped in the text, grow by one more backslash.
  const NASTY = `"\\\u0001\n\t é€😀${'"'.repeat(50)}${'\\'.repeat(50)}`;
  const value = { text: NASTY.repeat(300), n: 1 };

  /** A cutter written from §2.3 alone: each slice's JSON string literal, quotes included, within `size` bytes. */
  function cut(text: string, size: number): string[] {
    const out: string[] = [];
    let from = 0;
    let used = 2;
    for (let i = 0; i < text.length; i++) {
      const pair = /[\uD800-\uDBFF]/.test(text[i]!) && i + 1 < text.length;
      const unit = pair ? text.slice(i, i + 2) : text[i]!;
      const cost = Buffer.byteLength(JSON.stringify(unit)) - 2;
      if (used + cost > size) {
        out.push(text.slice(from, i));
        from = i;
        used = 2;
      }
      used += cost;
      if (pair) i++;
    }
    out.push(text.slice(from));
    return out;
  }

  test('the broker cuts its fragments to the negotiated size, as encoded', async () => {
    const broker = await t.start();
    const receiver = await raw.open(broker.url, 'json');
    await receiver.hello({ ext: { fragmentation: { size: 1024 } } });
    await receiver.call({ t: 'sub', id: 1, sid: 1, pattern: 'nasty' });
    const publisher = await t.client();
    await publisher.publish('nasty', value, { ack: 'submission' });

    const frags: Received[] = [];
    let n = Infinity;
    while (frags.length < n) {
      const f = await receiver.next((m) => m.t === 'frag');
      frags.push(f);
      n = f.n;
    }
    expect(frags.length).toBeGreaterThan(50);
    for (const f of frags) expect(Buffer.byteLength(JSON.stringify(f.data))).toBeLessThanOrEqual(1024);
    for (const f of frags) expect(Buffer.byteLength(JSON.stringify(f))).toBeLessThanOrEqual(1024 + 128);
    const msg = JSON.parse(frags.map((f) => f.data as string).join(''));
    expect(msg).toMatchObject({ t: 'msg', topic: 'nasty', data: value });
  });

  test('a client cutting at the announced size never crosses the broker\'s maxFrameBytes', async () => {
    const broker = await t.start({ maxFrameBytes: 16_384 });
    const sender = await raw.open(broker.url, 'json');
    const welcome = await sender.hello({ ext: { fragmentation: { size: 1 << 20 } } });
    const size = welcome.ext.fragmentation.size as number;
    expect(size).toBe(16_384 - 128);
    const subscriber = await t.client();
    const sub = subscriber.subscribe('nasty');
    await sub.ready;

    const text = JSON.stringify({ t: 'pub', id: 7, topic: 'nasty', data: value, ack: 'submission' });
    const slices = cut(text, size);
    slices.forEach((data, seq) => {
      const frag: Record<string, unknown> = { t: 'frag', fid: 1, seq, n: slices.length };
      if (seq === 0) frag.size = Buffer.byteLength(text);
      frag.data = data;
      const frame = JSON.stringify(frag);
      expect(Buffer.byteLength(frame)).toBeLessThanOrEqual(16_384);
      sender.sendRaw(frame, false);
    });
    expect(await sender.reply(7)).toMatchObject({ t: 'receipt', receivers: 1 });
    const it = sub[Symbol.asyncIterator]();
    expect((await it.next()).value.data).toEqual(value);
    expect(sender.isClosed).toBe(false);
  });
});

describe('integers are MessagePack integers, 64-bit where needed', () => {
  // Decodes int64/uint64 as bigint, so a float64 holding an integer stays a number and shows.
  const strict = new Unpackr({ useRecords: false, int64AsType: 'bigint' } as never);

  /** Paths of numbers that are integers beyond 32 bits, so were written as floats. */
  function floatIntegers(value: unknown, path = '$'): string[] {
    if (typeof value === 'number') return Number.isInteger(value) && (value > 0xffffffff || value < -0x80000000) ? [path] : [];
    if (value instanceof Uint8Array || typeof value !== 'object' || value === null) return [];
    return Object.entries(value).flatMap(([k, v]) => floatIntegers(v, `${path}.${k}`));
  }

  test('in broker frames: leases, tuples, admin reports, payloads from the SDK', async () => {
    const broker = await t.start();
    const c = await raw.connect(broker.url, 'msgpack');
    const frames: unknown[] = [];
    c.ws.on('message', (data: Buffer) => frames.push(strict.unpack(data)));

    const lease = await c.call({ t: 'out', id: 1, space: 'jobs', tuple: ['big', 2 ** 40, -(2 ** 40), 1.5], ttl: 60_000, ack: 'submission' });
    expect(lease.expiresAt).toBeGreaterThan(Date.now());
    await c.call({ t: 'rd', id: 2, space: 'jobs', template: ['big', { $any: true }, { $any: true }, { $any: true }] });
    await c.call({ t: 'qcreate', id: 3, name: 'q', pattern: 'q.>', maxBytes: 2 ** 40 });
    await c.call({ t: 'pub', id: 4, topic: 'q.1', data: c.data(1), mode: 'persistent', ack: 'submission' });
    for (const op of ['queues', 'queue', 'spaces', 'space', 'connections', 'subscriptions']) {
      const name = op === 'queue' ? 'q' : op === 'space' ? 'jobs' : undefined;
      expect((await c.call({ t: 'admin', id: 5, op, ...(name ? { name } : {}) })).t).toBe('report');
    }
    await c.call({ t: 'sub', id: 6, sid: 1, pattern: 'ts' });
    const sdk = await t.client();
    await sdk.publish('ts', { at: 1_767_225_660_000 }, { ack: 'submission' });
    const msg = await c.next((m) => m.t === 'msg');
    await c.sync();

    expect(frames.flatMap((f, i) => floatIntegers(f, `frame${i}`))).toEqual([]);
    const tuple = frames.flat().find((m) => (m as Received).t === 'tuple') as Received;
    expect(tuple.tuple).toEqual(['big', BigInt(2 ** 40), BigInt(-(2 ** 40)), 1.5]);
    expect(typeof tuple.expiresAt).toBe('bigint');
    expect(strict.unpack(msg.data)).toEqual({ at: BigInt(1_767_225_660_000) });
  });

  test('in every MessagePack example of protocol.md', () => {
    const doc = readFileSync(new URL('../protocol.md', import.meta.url), 'utf8');
    const blocks = [...doc.matchAll(/```hex\n([\s\S]*?)\n```/g)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ''), 'hex'));
    expect(blocks.length).toBeGreaterThan(50);
    expect(blocks.flatMap((b, i) => floatIntegers(strict.unpack(b), `example${i}`))).toEqual([]);
  });
});

describe('the order of checks (protocol.md §12)', () => {
  test.each(CODECS)('%s: admin retry, pub and sub', async (codec) => {
    const broker = await t.start({ maxFrameBytes: 64 * 1024 });
    const c = await raw.connect(broker.url, codec);
    expect(await c.call({ t: 'admin', id: 1, op: 'retry', name: 'nope.dlq' })).toMatchObject({ t: 'err', code: 'NOT_FOUND' });
    await c.call({ t: 'qcreate', id: 2, name: 'mail', pattern: 'mail.>' });
    expect(await c.call({ t: 'sub', id: 3, sid: 1, pattern: 'mail.>', durable: 'mail.dlq' })).toMatchObject({ t: 'ok' });
    expect(await c.call({ t: 'admin', id: 5, op: 'retry', name: 'mail.dlq' })).toMatchObject({ t: 'err', code: 'INVALID_FRAME', details: { field: 'name' } });

    const huge = c.data('x'.repeat(60_000));
    expect(await c.call({ t: 'pub', id: 6, topic: 'a..b', data: huge, ack: 'submission' })).toMatchObject({ code: 'INVALID_TOPIC' });
    expect(await c.call({ t: 'pub', id: 7, topic: 'a', data: huge, ack: 'submission', ttl: 5 })).toMatchObject({ code: 'INVALID_FRAME', details: { field: 'ttl' } });
    expect(await c.call({ t: 'pub', id: 8, topic: 'a', data: c.data(1), ack: 'processing', reply: true, mode: 'persistent' }))
      .toMatchObject({ code: 'INVALID_FRAME', details: { field: 'mode' } }); // before NO_RESPONDERS
    expect(await c.call({ t: 'pub', id: 9, topic: 'a', data: huge, ack: 'processing', reply: true })).toMatchObject({ code: 'MESSAGE_TOO_LARGE' });
    expect(await c.call({ t: 'sub', id: 10, sid: 1, pattern: 'x', durable: 'mail', group: 'g' })).toMatchObject({ code: 'INVALID_FRAME', details: { field: 'group' } });
    expect(await c.call({ t: 'sub', id: 11, sid: 1, pattern: 'x' })).toMatchObject({ code: 'DUPLICATE_ID' });
  });
});
