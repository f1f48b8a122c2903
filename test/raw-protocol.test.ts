/**
 * Black-box protocol suite: raw frames over `ws` against a real broker, no SDK. Every bad input
 * must get its documented typed error or close code, the broker must stay up, and well-behaved
 * clients on the same broker must keep working (each error test checks that with a witness).
 *
 * The tests share one broker per set of options for the whole file (starting one per test was
 * most of the file's time): each test's clients are closed after it, and the next test starts
 * once the broker has let them all go, so it finds only the witnesses connected.
 */
import { packr } from '../protocol/codec.js';
import { clip } from '../protocol/echo.js';
import { LindenError, type ErrorCode } from '../protocol/errors.js';
import { LINDEN_VERSION, SUBPROTOCOLS, type CodecName } from '../protocol/version.js';
import type { Broker, BrokerOptions } from '../server/index.js';
import { rawClients, refusedUpgrade, type RawClient, type Received } from './helpers/raw-client.js';
import { testBroker } from './helpers/setup.js';
import { sharedBrokers } from './helpers/shared-brokers.js';

/** A test's own clients, closed after it; brokers of a test's own (the options tests). */
const raw = rawClients();
const t = testBroker();
const brokers = sharedBrokers();
/** The witnesses of each shared broker, connected for the whole file. */
const witnesses = rawClients();
const envs = new Map<Broker, Promise<Env>>();

const CODECS: CodecName[] = ['json', 'msgpack'];
const WITNESSES = 2 * CODECS.length;

afterEach(async () => {
  const violations = raw.violations();
  await raw.closeAll();
  await t.cleanup();
  await brokers.settled(WITNESSES);
  expect([...violations, ...witnesses.violations()]).toEqual([]);
});

afterAll(() => witnesses.closeAll());

/**
 * A broker plus witnesses: one subscriber per codec on `witness.>` and one publisher per codec.
 * stillServes() proves that messages still flow between them, whatever a test did meanwhile.
 */
interface Env {
  url: string;
  stillServes(): Promise<void>;
}

/** The shared broker for `options` and its witnesses. */
async function startEnv(options: BrokerOptions = {}): Promise<Env> {
  const broker = await brokers.start(options);
  let env = envs.get(broker);
  if (!env) {
    env = openEnv(broker);
    envs.set(broker, env);
  }
  return env;
}

async function openEnv(broker: Broker): Promise<Env> {
  const listeners: RawClient[] = [];
  for (const codec of CODECS) {
    const listener = await witnesses.connect(broker.url, codec);
    const ok = await listener.call({ t: 'sub', id: listener.id(), sid: 1, pattern: 'witness.>' });
    expect(ok.t).toBe('ok');
    listeners.push(listener);
  }
  const publishers = await Promise.all(CODECS.map((codec) => witnesses.connect(broker.url, codec)));
  let round = 0;
  return {
    url: broker.url,
    async stillServes() {
      round++;
      for (const publisher of publishers) {
        const topic = `witness.${publisher.codec}.${round}`;
        const id = publisher.id();
        publisher.send({ t: 'pub', id, topic, data: publisher.data({ round, from: publisher.codec }), ack: 'submission' });
        const receipt = await publisher.reply(id);
        expect(receipt).toMatchObject({ t: 'receipt', re: id, stage: 'submission', receivers: 2, dropped: 0 });
        for (const listener of listeners) {
          const msg = await listener.next((m) => m.t === 'msg' && m.topic === topic);
          expect(msg.sid).toBe(1);
          expect(listener.decodeData(msg.data)).toEqual({ round, from: publisher.codec });
        }
      }
    },
  };
}

/** The connection is open and serves: sub, pub to itself, msg, unsub. */
async function expectUsable(c: RawClient): Promise<void> {
  const sid = c.id();
  const topic = `echo.${sid}`;
  expect(await c.call({ t: 'sub', id: c.id(), sid, pattern: topic })).toMatchObject({ t: 'ok' });
  c.send({ t: 'pub', topic, data: c.data({ echo: sid }) });
  const msg = await c.next((m) => m.t === 'msg' && m.sid === sid);
  expect(c.decodeData(msg.data)).toEqual({ echo: sid });
  expect(await c.call({ t: 'unsub', id: c.id(), sid })).toMatchObject({ t: 'ok' });
}

/** An err frame as the protocol defines it: code, message, and `re` only when given. */
function expectErr(err: Received, code: ErrorCode, re?: number): void {
  expect(err.t).toBe('err');
  expect(err.code).toBe(code);
  expect(typeof err.message).toBe('string');
  expect(err.message.length).toBeGreaterThan(0);
  if (re === undefined) expect(err).not.toHaveProperty('re');
  else expect(err.re).toBe(re);
}

/** Nothing arrived beyond what the test already took (answers to earlier messages precede a pong). */
async function expectNothingElse(c: RawClient): Promise<void> {
  await c.sync();
  expect(c.unread()).toEqual([]);
}

describe('subprotocol negotiation', () => {
  test('no subprotocol offered: the broker closes with 4002 and says what to offer', async () => {
    const env = await startEnv();
    const c = await raw.open(env.url);
    const { code, reason } = await c.closed;
    expect(code).toBe(4002);
    expect(reason).toBe('offer subprotocol linden.v1.msgpack or linden.v1.json');
    expect(c.messages).toEqual([]);
    await env.stillServes();
  });

  test('only unknown subprotocols: the upgrade is refused with HTTP 400', async () => {
    const env = await startEnv();
    const { statusCode, body } = await refusedUpgrade(env.url, ['mqtt', 'linden.v2.json']);
    expect(statusCode).toBe(400);
    expect(body).toBe('unsupported subprotocol(s) mqtt, linden.v2.json; offer linden.v1.msgpack or linden.v1.json\n');
    await env.stillServes();
  });

  test('an unknown subprotocol next to a known one: the known one is picked', async () => {
    const broker = await startEnv();
    const c = await raw.open(broker.url, ['mqtt', SUBPROTOCOLS.json]);
    expect(c.protocol).toBe(SUBPROTOCOLS.json);
    await c.hello();
    await expectUsable(c);
  });

  test('both codecs offered: the broker prefers MessagePack', async () => {
    const broker = await startEnv();
    const c = await raw.open(broker.url, [SUBPROTOCOLS.json, SUBPROTOCOLS.msgpack]);
    expect(c.protocol).toBe(SUBPROTOCOLS.msgpack);
    await c.hello();
    await expectUsable(c);
  });
});

describe.each(CODECS)('%s codec', (codec) => {
  describe('happy path', () => {
    test('hello -> welcome with re, v, connectionId, server, limits and heartbeatMs', async () => {
      const broker = await startEnv({
        maxFrameBytes: 65_536, maxMessageBytes: 32_768, maxSubscriptions: 7,
        maxPendingBytes: 100_000, heartbeatMs: 20_000, maxTimeoutMs: 9_000,
      });
      const c = await raw.open(broker.url, codec);
      expect(c.protocol).toBe(SUBPROTOCOLS[codec]);
      c.send({ t: 'hello', id: 42, v: 1, name: 'raw-suite' });
      const welcome = await c.reply(42);
      expect(welcome).toEqual({
        t: 'welcome', re: 42, v: 1, connectionId: expect.any(String),
        server: { name: 'linden', version: LINDEN_VERSION },
        limits: {
          maxFrameBytes: 65_536, maxMessageBytes: 32_768, maxSubscriptions: 7,
          maxPendingBytes: 100_000, maxTopicLength: 512, maxTimeoutMs: 9_000,
        },
        heartbeatMs: 20_000,
        ext: { fragmentation: { size: 65_536 - 128 } }, // within maxFrameBytes with room for the frag fields
      });
      expect(welcome.connectionId.length).toBeGreaterThan(0);
      const other = await raw.open(broker.url, codec);
      expect((await other.hello()).connectionId).not.toBe(welcome.connectionId);
    });

    test('sub -> ok, pub -> msg to the subscriber, from either codec', async () => {
      const broker = await startEnv();
      const sub = await raw.connect(broker.url, codec);
      const pub = await raw.connect(broker.url, codec);
      const otherCodec = await raw.connect(broker.url, codec === 'json' ? 'msgpack' : 'json');
      expect(await sub.call({ t: 'sub', id: 1, sid: 7, pattern: 'orders.*' })).toEqual({ t: 'ok', re: 1 });

      pub.send({ t: 'pub', topic: 'orders.new', data: pub.data({ n: 1, s: 'x', list: [1, 2] }) });
      const msg = await sub.next((m) => m.t === 'msg');
      expect(msg).toMatchObject({ t: 'msg', sid: 7, topic: 'orders.new', mid: expect.any(String) });
      if (codec === 'msgpack') expect(msg.data).toBeInstanceOf(Uint8Array);
      expect(sub.decodeData(msg.data)).toEqual({ n: 1, s: 'x', list: [1, 2] });

      otherCodec.send({ t: 'pub', id: 3, topic: 'orders.old', data: otherCodec.data({ n: 2 }), ack: 'submission', mid: 'my-id' });
      expect(await otherCodec.reply(3)).toMatchObject({
        t: 'receipt', re: 3, mid: 'my-id', stage: 'submission', receivers: 1, dropped: 0,
      });
      const cross = await sub.next((m) => m.t === 'msg');
      expect(cross).toMatchObject({ sid: 7, topic: 'orders.old', mid: 'my-id' });
      expect(sub.decodeData(cross.data)).toEqual({ n: 2 });
      await expectNothingElse(sub);
    });

    test('a batch (several messages in one frame) is processed in order', async () => {
      const broker = await startEnv();
      const c = await raw.open(broker.url, codec);
      c.send([
        { t: 'hello', id: 1, v: 1 },
        { t: 'sub', id: 2, sid: 1, pattern: 'batch.>' },
        { t: 'pub', topic: 'batch.a', data: c.data(1) },
        { t: 'pub', topic: 'batch.b.c', data: c.data(2) },
        { t: 'unsub', id: 3, sid: 1 },
        { t: 'pub', topic: 'batch.d', data: c.data(3) },
        { t: 'ping', id: 4 },
      ]);
      await c.reply(4);
      const sequence = c.messages.map((m) => (m.t === 'msg' ? `msg:${String(c.decodeData(m.data))}` : `${m.t}:${m.re}`));
      expect(sequence).toEqual(['welcome:1', 'ok:2', 'msg:1', 'msg:2', 'ok:3', 'pong:4']);
    });

    test('an empty batch does nothing', async () => {
      const broker = await startEnv();
      const c = await raw.connect(broker.url, codec);
      c.send([]);
      await expectNothingElse(c);
    });

    test('an integral float is accepted as an integer field', async () => {
      const broker = await startEnv();
      const c = await raw.connect(broker.url, codec);
      if (codec === 'json') {
        c.sendRaw('{"t":"ping","id":5.0}', false);
      } else {
        // {"t":"ping","id":5.0} with the id as float64 (cb), as some encoders write it.
        c.sendRaw(Uint8Array.from([0x82, 0xa1, 0x74, 0xa4, 0x70, 0x69, 0x6e, 0x67, 0xa2, 0x69, 0x64, 0xcb, 0x40, 0x14, 0, 0, 0, 0, 0, 0]), true);
      }
      expect(await c.reply(5)).toEqual({ t: 'pong', re: 5 });
    });

    test('a bad message inside a batch gets its error in place; the rest of the batch still runs', async () => {
      const env = await startEnv();
      const c = await raw.connect(env.url, codec);
      c.send([
        { t: 'sub', id: 10, sid: 1, pattern: 'mixed.>' },
        { t: 'nope', id: 11 },
        { t: 'sub', id: 12, sid: 'two', pattern: 'x' },
        42,
        { t: 'pub', id: 13, topic: 'bad..topic', data: c.data(0) },
        { t: 'pub', topic: 'mixed.ok', data: c.data('fine') },
        { t: 'ping', id: 14 },
      ]);
      await c.reply(14);
      const sequence = c.messages.slice(1).map((m) => `${m.t}:${m.code ?? m.topic ?? ''}:${m.re ?? '-'}`);
      expect(sequence).toEqual([
        'ok::10',
        'err:UNKNOWN_FRAME_TYPE:11',
        'err:INVALID_FRAME:12',
        'err:INVALID_FRAME:-',
        'err:INVALID_TOPIC:13',
        'msg:mixed.ok:-',
        'pong::14',
      ]);
      await env.stillServes();
    });

    test('request/reply: ack processing with reply and an ack carrying data -> receipt with the reply', async () => {
      const broker = await startEnv();
      const responder = await raw.connect(broker.url, codec);
      const requester = await raw.connect(broker.url, codec);
      await responder.call({ t: 'sub', id: 1, sid: 3, pattern: 'svc.echo' });
      requester.send({ t: 'pub', id: 2, topic: 'svc.echo', data: requester.data('question'), ack: 'processing', reply: true });
      const request = await responder.next((m) => m.t === 'msg');
      expect(request).toMatchObject({ sid: 3, topic: 'svc.echo', ack: 'processing', reply: true, tag: expect.any(Number) });
      responder.send({ t: 'ack', tag: request.tag, data: responder.data('answer') });
      const receipt = await requester.reply(2);
      expect(receipt).toMatchObject({ t: 'receipt', re: 2, stage: 'processing', receivers: 1, processed: 1, timedOut: false });
      expect(requester.decodeData(receipt.data)).toBe('answer');
      // A late ack or nack of a settled delivery is ignored quietly.
      responder.send({ t: 'ack', tag: request.tag });
      responder.send({ t: 'nack', tag: request.tag, reason: 'too late' });
      await expectNothingElse(responder);
    });
  });

  describe('not decodable -> DECODE_ERROR, the connection stays open', () => {
    const garbage: Array<[string, string | Uint8Array, boolean]> = codec === 'json'
      ? [
          ['truncated JSON text', '{"t":"ping","id":1', false],
          ['not JSON at all', 'hello broker', false],
          ['a trailing comma', '[{"t":"ping","id":1},]', false],
          ['a binary frame that is not UTF-8', Uint8Array.from([0xff, 0xfe, 0x80]), true],
        ]
      : [
          ['bytes that are not MessagePack', Uint8Array.from([0xff, 0xfe, 0xfd]), true],
          ['a truncated map', Uint8Array.from([0x82, 0xa1, 0x74]), true],
          ['an empty binary frame', new Uint8Array(0), true],
          ['a message followed by stray bytes', Uint8Array.from([...packr.pack({ t: 'ping', id: 1 }), 0x00]), true],
          ['a text frame on the msgpack subprotocol', '{"t":"ping","id":1}', false],
          ['an array header promising 2^32-1 items', Uint8Array.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]), true],
        ];

    test.each(garbage)('%s', async (_name, bytes, binary) => {
      const env = await startEnv();
      const c = await raw.connect(env.url, codec);
      c.sendRaw(bytes, binary);
      const err = await c.error();
      expectErr(err, 'DECODE_ERROR');
      await expectNothingElse(c);
      await expectUsable(c);
      await env.stillServes();
    });

    if (codec === 'msgpack') {
      // {"t":"ping","id": <an extension value>}: only the timestamp extension (-1) is part of the protocol.
      const pingWithExt = (ext: number[]): Uint8Array =>
        Uint8Array.from([0x82, 0xa1, 0x74, 0xa4, 0x70, 0x69, 0x6e, 0x67, 0xa2, 0x69, 0x64, ...ext]);
      test.each([
        ['type 16', [0xd4, 0x10, 0x00]],
        ['type 127', [0xc7, 0x01, 0x7f, 0x00]],
        ['type 0', [0xd4, 0x00, 0x00]],
        ['type 0x42 (a BigInt to msgpackr)', [0xd4, 0x42, 0x00]],
        ['type 0x74 (a typed array to msgpackr)', [0xd4, 0x74, 0x00]],
      ])('an extension of %s is not part of the protocol', async (_name, ext) => {
        const env = await startEnv();
        const c = await raw.connect(env.url, codec);
        c.sendRaw(pingWithExt(ext), true);
        await c.sync();
        expect(c.unread().map((m) => `${m.t}:${m.code}`)).toEqual(['err:DECODE_ERROR']);
        await expectUsable(c);
        await env.stillServes();
      });

      test('the never-used byte 0xC1 is not MessagePack', async () => {
        const env = await startEnv();
        const c = await raw.connect(env.url, codec);
        c.sendRaw(Uint8Array.from([0xc1]), true);
        expectErr(await c.next((m) => m.t === 'err'), 'DECODE_ERROR');
        await expectUsable(c);
        await env.stillServes();
      });
    }
  });

  describe('unknown frame type -> UNKNOWN_FRAME_TYPE with re', () => {
    const types: unknown[] = ['bogus', 'welcome', 'msg', 'receipt', 'HELLO', '', 'constructor', '__proto__', 'toString', 7, null];

    test.each(types.map((type) => [JSON.stringify(type), type]))('t = %s', async (_name, type) => {
      const env = await startEnv();
      const c = await raw.connect(env.url, codec);
      const err = await c.call({ t: type, id: 77 });
      expectErr(err, 'UNKNOWN_FRAME_TYPE', 77);
      expect(err.details).toEqual({ t: String(type) });
      await expectNothingElse(c);
      await expectUsable(c);
      await env.stillServes();
    });

    test('a message with no t at all', async () => {
      const env = await startEnv();
      const c = await raw.connect(env.url, codec);
      expectErr(await c.call({ id: 78, sid: 1 }), 'UNKNOWN_FRAME_TYPE', 78);
      await expectUsable(c);
      await env.stillServes();
    });
  });

  describe('wrong field types, missing and extra fields -> INVALID_FRAME naming the field', () => {
    type Case = [name: string, build: (c: RawClient) => object, field: string, re: number | undefined];
    const cases: Case[] = [
      ['sub without pattern', () => ({ t: 'sub', id: 21, sid: 1 }), 'pattern', 21],
      ['sub without sid', () => ({ t: 'sub', id: 21, pattern: 'a' }), 'sid', 21],
      ['sub with a string sid', () => ({ t: 'sub', id: 22, sid: '1', pattern: 'a' }), 'sid', 22],
      ['sub with a negative sid', () => ({ t: 'sub', id: 23, sid: -1, pattern: 'a' }), 'sid', 23],
      ['sub with a fractional sid', () => ({ t: 'sub', id: 24, sid: 1.5, pattern: 'a' }), 'sid', 24],
      ['sub with a sid over 2^32-1', () => ({ t: 'sub', id: 25, sid: 2 ** 32, pattern: 'a' }), 'sid', 25],
      ['sub with a number pattern', () => ({ t: 'sub', id: 26, sid: 1, pattern: 5 }), 'pattern', 26],
      ['sub with an empty group', () => ({ t: 'sub', id: 27, sid: 1, pattern: 'a', group: '' }), 'group', 27],
      ['sub with a group over 128 characters', () => ({ t: 'sub', id: 29, sid: 1, pattern: 'a', group: 'g'.repeat(129) }), 'group', 29],
      ['sub with an extra field', () => ({ t: 'sub', id: 28, sid: 1, pattern: 'a', durable: true }), 'durable', 28],
      ['sub with a negative id', () => ({ t: 'sub', id: -1, sid: 1, pattern: 'a' }), 'id', undefined],
      ['unsub without sid', () => ({ t: 'unsub', id: 30 }), 'sid', 30],
      ['unsub with a boolean sid', () => ({ t: 'unsub', id: 31, sid: true }), 'sid', 31],
      ['pub without topic', (c) => ({ t: 'pub', id: 40, data: c.data(1) }), 'topic', 40],
      ['pub without data', () => ({ t: 'pub', id: 41, topic: 'a' }), 'data', 41],
      ['pub with an array topic', (c) => ({ t: 'pub', id: 42, topic: ['a'], data: c.data(1) }), 'topic', 42],
      ['pub with an unknown ack level', (c) => ({ t: 'pub', id: 43, topic: 'a', data: c.data(1), ack: 'eventually' }), 'ack', 43],
      ['pub with timeout 0', (c) => ({ t: 'pub', id: 44, topic: 'a', data: c.data(1), ack: 'delivery', timeout: 0 }), 'timeout', 44],
      ['pub with an empty mid', (c) => ({ t: 'pub', id: 45, topic: 'a', data: c.data(1), mid: '' }), 'mid', 45],
      ['pub with a mid over 128 characters', (c) => ({ t: 'pub', id: 49, topic: 'a', data: c.data(1), mid: 'm'.repeat(129) }), 'mid', 49],
      ['pub with a string reply', (c) => ({ t: 'pub', id: 46, topic: 'a', data: c.data(1), reply: 'yes' }), 'reply', 46],
      ['pub with an extra field', (c) => ({ t: 'pub', id: 47, topic: 'a', data: c.data(1), priority: 9 }), 'priority', 47],
      ['pub with a string id', (c) => ({ t: 'pub', id: '48', topic: 'a', data: c.data(1) }), 'id', undefined],
      ['ping without id', () => ({ t: 'ping' }), 'id', undefined],
      ['ping with a string id', () => ({ t: 'ping', id: '7' }), 'id', undefined],
      ['hello with an extra field', () => ({ t: 'hello', id: 50, v: 1, token: 'x' }), 'token', 50],
      ['hello with a name over 128 characters', () => ({ t: 'hello', id: 51, v: 1, name: 'n'.repeat(129) }), 'name', 51],
      ['pong with a string re', () => ({ t: 'pong', re: 'x' }), 're', undefined],
      ['rcv with no tags', () => ({ t: 'rcv', tags: [] }), 'tags', undefined],
      ['rcv with a string tag', () => ({ t: 'rcv', tags: [1, 'x'] }), 'tags.1', undefined],
      ['rcv with tags not an array', () => ({ t: 'rcv', tags: 1 }), 'tags', undefined],
      ['ack without tag', () => ({ t: 'ack' }), 'tag', undefined],
      ['ack with an extra field', () => ({ t: 'ack', tag: 1, ok: true }), 'ok', undefined],
      ['nack with a number reason', () => ({ t: 'nack', tag: 1, reason: 5 }), 'reason', undefined],
    ];
    if (codec === 'msgpack') {
      cases.push(
        ['pub whose data is a map, not bin', () => ({ t: 'pub', id: 60, topic: 'a', data: { x: 1 } }), 'data', 60],
        ['pub whose data is a string, not bin', () => ({ t: 'pub', id: 61, topic: 'a', data: 'text' }), 'data', 61],
        ['pub whose data is nil', () => ({ t: 'pub', id: 62, topic: 'a', data: null }), 'data', 62],
        ['ack whose data is not bin', () => ({ t: 'ack', tag: 1, data: 5 }), 'data', undefined],
      );
    }

    test.each(cases)('%s', async (_name, build, field, re) => {
      const env = await startEnv();
      const c = await raw.connect(env.url, codec);
      const message = build(c) as { t: string };
      c.send(message);
      const err = await c.error();
      expectErr(err, 'INVALID_FRAME', re);
      expect(err.details).toEqual({ t: message.t, field });
      expect(err.message).toContain(field);
      await expectNothingElse(c);
      await expectUsable(c);
      await env.stillServes();
    });

    if (codec === 'msgpack') {
      // {"t":"ping","id": <a 64-bit integer>}
      const pingWithInt64 = (format: number, bytes: number[]): Uint8Array =>
        Uint8Array.from([0x82, 0xa1, 0x74, 0xa4, 0x70, 0x69, 0x6e, 0x67, 0xa2, 0x69, 0x64, format, ...bytes]);

      test.each([
        ['uint64', 0xcf],
        ['int64', 0xd3],
      ])('a small id in the 64-bit format %s is read as a number', async (_name, format) => {
        const broker = await startEnv();
        const c = await raw.connect(broker.url, codec);
        c.sendRaw(pingWithInt64(format, [0, 0, 0, 0, 0, 0, 0, 5]), true);
        expect(await c.reply(5)).toEqual({ t: 'pong', re: 5 });
      });

      test('an id in uint64 beyond 2^53 is INVALID_FRAME', async () => {
        const env = await startEnv();
        const c = await raw.connect(env.url, codec);
        c.sendRaw(pingWithInt64(0xcf, [0xff, 0, 0, 0, 0, 0, 0, 5]), true);
        const err = await c.error();
        expectErr(err, 'INVALID_FRAME');
        expect(err.details).toEqual({ t: 'ping', field: 'id' });
        await expectUsable(c);
        await env.stillServes();
      });
    }

    test('a message that is not an object', async () => {
      const env = await startEnv();
      const c = await raw.connect(env.url, codec);
      c.send([42, 'pub', null, [{ t: 'ping', id: 1 }], true]);
      for (let i = 0; i < 5; i++) {
        const err = await c.error();
        expectErr(err, 'INVALID_FRAME');
        expect(err).not.toHaveProperty('details');
      }
      await expectNothingElse(c);
      await expectUsable(c);
      await env.stillServes();
    });

    test('a second hello', async () => {
      const env = await startEnv();
      const c = await raw.connect(env.url, codec);
      const err = await c.call({ t: 'hello', id: 9, v: 1 });
      expectErr(err, 'INVALID_FRAME', 9);
      expect(err.message).toBe('"hello" was already received on this connection');
      await expectUsable(c);
      await env.stillServes();
    });

    test('pub with ack above none but no id', async () => {
      const env = await startEnv();
      const c = await raw.connect(env.url, codec);
      await c.call({ t: 'sub', id: 1, sid: 1, pattern: 'noid' });
      for (const ack of ['submission', 'delivery', 'processing']) {
        c.send({ t: 'pub', topic: 'noid', data: c.data(ack), ack });
        const err = await c.error();
        expectErr(err, 'INVALID_FRAME');
        expect(err.details).toEqual({ t: 'pub', field: 'id' });
      }
      // Rejected publishes are not delivered.
      await expectNothingElse(c);
      await env.stillServes();
    });
  });

  describe('handshake', () => {
    test('a message before hello -> HANDSHAKE_REQUIRED, then close 4001', async () => {
      const env = await startEnv();
      const c = await raw.open(env.url, codec);
      c.send({ t: 'sub', id: 5, sid: 1, pattern: 'a' });
      expectErr(await c.error(), 'HANDSHAKE_REQUIRED', 5);
      expect(await c.closed).toEqual({ code: 4001, reason: 'the first message must be hello' });
      await env.stillServes();
    });

    test.each([
      ['a message that is not an object', 42],
      ['an unknown type', { t: 'bogus' }],
      ['a pong', { t: 'pong', re: 1 }],
    ])('%s before hello -> HANDSHAKE_REQUIRED without re, then close 4001', async (_name, message) => {
      const env = await startEnv();
      const c = await raw.open(env.url, codec);
      c.send([message] as object[]);
      expectErr(await c.error(), 'HANDSHAKE_REQUIRED');
      expect((await c.closed).code).toBe(4001);
      await env.stillServes();
    });

    test('an undecodable frame before hello -> DECODE_ERROR; the connection stays in the handshake', async () => {
      const env = await startEnv();
      const c = await raw.open(env.url, codec);
      if (codec === 'json') c.sendRaw('{"t":"hello",', false);
      else c.sendRaw(Uint8Array.from([0x82, 0xa1]), true);
      expectErr(await c.error(), 'DECODE_ERROR');
      await c.hello();
      await expectUsable(c);
      await env.stillServes();
    });

    test('a batch that does not start with hello -> HANDSHAKE_REQUIRED and nothing after it runs', async () => {
      const env = await startEnv();
      const c = await raw.open(env.url, codec);
      c.send([{ t: 'ping', id: 6 }, { t: 'hello', id: 7, v: 1 }]);
      expectErr(await c.error(), 'HANDSHAKE_REQUIRED', 6);
      expect((await c.closed).code).toBe(4001);
      expect(c.messages.map((m) => m.t)).toEqual(['err']);
      await env.stillServes();
    });

    test('hello with v: 99 -> UNSUPPORTED_VERSION, then close 4003', async () => {
      const env = await startEnv();
      const c = await raw.open(env.url, codec);
      c.send({ t: 'hello', id: 8, v: 99 });
      const err = await c.error();
      expectErr(err, 'UNSUPPORTED_VERSION', 8);
      expect(err.details).toEqual({ supported: [1] });
      expect(await c.closed).toEqual({ code: 4003, reason: 'unsupported protocol version 99' });
      expect(c.messages).toHaveLength(1);
      await env.stillServes();
    });

    test('an invalid hello -> INVALID_FRAME; a valid hello afterwards is welcomed', async () => {
      const env = await startEnv();
      const c = await raw.open(env.url, codec);
      const err = await c.call({ t: 'hello', id: 9, v: '1' });
      expectErr(err, 'INVALID_FRAME', 9);
      expect(err.details).toEqual({ t: 'hello', field: 'v' });
      await c.hello();
      await expectUsable(c);
      await env.stillServes();
    });

    test('no hello within handshakeTimeoutMs -> close 4004', async () => {
      const env = await startEnv({ handshakeTimeoutMs: 500 });
      const c = await raw.open(env.url, codec);
      const started = Date.now();
      expect(await c.closed).toEqual({ code: 4004, reason: 'no hello in time' });
      expect(c.messages).toEqual([]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(400);
      // The witnesses said hello in time: they outlived the timeout and still work.
      await env.stillServes();
    });
  });

  describe('limits', () => {
    test('a frame over maxFrameBytes -> close 1009', async () => {
      const env = await startEnv({ maxFrameBytes: 16_384, maxMessageBytes: 1024 });
      const c = await raw.connect(env.url, codec);
      c.send({ t: 'pub', topic: 'big', data: c.data('x'.repeat(17_000)) });
      expect(await c.closed).toEqual({ code: 1009, reason: '' });
      expect(c.messages.map((m) => m.t)).toEqual(['welcome']); // no err frame
      await env.stillServes();
    });

    test('a payload over maxMessageBytes in a frame under maxFrameBytes -> MESSAGE_TOO_LARGE', async () => {
      const env = await startEnv({ maxFrameBytes: 16_384, maxMessageBytes: 1024 });
      const c = await raw.connect(env.url, codec);
      await c.call({ t: 'sub', id: 1, sid: 1, pattern: 'big' });
      const data = c.data('x'.repeat(2000));
      const err = await c.call({ t: 'pub', id: 2, topic: 'big', data, ack: 'submission' });
      expectErr(err, 'MESSAGE_TOO_LARGE', 2);
      // MessagePack: the length of the bin; JSON: the UTF-8 bytes of the payload re-serialised.
      const bytes = codec === 'msgpack' ? (data as Uint8Array).length : Buffer.byteLength(JSON.stringify(data));
      expect(err.details).toEqual({ bytes, limit: 1024 });
      await expectNothingElse(c); // not delivered
      c.send({ t: 'pub', topic: 'big', data: c.data('y'.repeat(900)) });
      const msg = await c.next((m) => m.t === 'msg');
      expect(c.decodeData(msg.data)).toBe('y'.repeat(900));
      await env.stillServes();
    });

    if (codec === 'json') {
      test('maxMessageBytes counts bytes (UTF-8), not characters', async () => {
        const env = await startEnv({ maxFrameBytes: 16_384, maxMessageBytes: 1024 });
        const c = await raw.connect(env.url, codec);
        // 702 characters with the quotes, but 1,402 bytes of UTF-8 (and as many once packed for a
        // MessagePack receiver): over a limit named in bytes.
        const err = await c.call({ t: 'pub', id: 3, topic: 'big', data: 'é'.repeat(700), ack: 'submission' });
        expectErr(err, 'MESSAGE_TOO_LARGE', 3);
        expect(err.details).toEqual({ bytes: 1402, limit: 1024 });
        await env.stillServes();
      });
    }

    test('an ack whose reply data is over maxMessageBytes -> MESSAGE_TOO_LARGE; the delivery stays open', async () => {
      const env = await startEnv({ maxFrameBytes: 16_384, maxMessageBytes: 1024 });
      const responder = await raw.connect(env.url, codec);
      const requester = await raw.connect(env.url, codec);
      await responder.call({ t: 'sub', id: 1, sid: 1, pattern: 'svc.big' });
      requester.send({ t: 'pub', id: 2, topic: 'svc.big', data: requester.data('?'), ack: 'processing', reply: true, timeout: 2_000 });
      const request = await responder.next((m) => m.t === 'msg');
      responder.send({ t: 'ack', tag: request.tag, data: responder.data('z'.repeat(3000)) });
      await responder.sync();
      const err = responder.poll((m) => m.t === 'err');
      expect(err).toMatchObject({ t: 'err', code: 'MESSAGE_TOO_LARGE', details: { limit: 1024 } });
      // A refused message has no effect: the tag is not spent, so a reply within the limit completes
      // the request (instead of the requester waiting for its timeout).
      responder.send({ t: 'ack', tag: request.tag, data: responder.data('small') });
      const receipt = await requester.reply(2);
      expect(receipt).toMatchObject({ t: 'receipt', re: 2, processed: 1, timedOut: false });
      expect(requester.decodeData(receipt.data)).toBe('small');
      await env.stillServes();
    });

    test('more than maxSubscriptions -> TOO_MANY_SUBSCRIPTIONS; freeing one makes room', async () => {
      const env = await startEnv({ maxSubscriptions: 2 });
      const c = await raw.connect(env.url, codec);
      expect(await c.call({ t: 'sub', id: 1, sid: 1, pattern: 'cap.a' })).toEqual({ t: 'ok', re: 1 });
      expect(await c.call({ t: 'sub', id: 2, sid: 2, pattern: 'cap.b' })).toEqual({ t: 'ok', re: 2 });
      expectErr(await c.call({ t: 'sub', id: 3, sid: 3, pattern: 'cap.c' }), 'TOO_MANY_SUBSCRIPTIONS', 3);
      await env.stillServes();
      // The refused subscription does not exist; the other two still deliver.
      c.send({ t: 'pub', topic: 'cap.c', data: c.data('c') });
      c.send({ t: 'pub', topic: 'cap.a', data: c.data('a') });
      const msg = await c.next((m) => m.t === 'msg');
      expect(msg).toMatchObject({ sid: 1, topic: 'cap.a' });
      await expectNothingElse(c);
      expect(await c.call({ t: 'unsub', id: 4, sid: 1 })).toEqual({ t: 'ok', re: 4 });
      expect(await c.call({ t: 'sub', id: 5, sid: 3, pattern: 'cap.c' })).toEqual({ t: 'ok', re: 5 });
    });
  });

  describe('topics, ids and tags', () => {
    const badTopics = ['', 'a..b', '.a', 'a.', 'a.*', '*', '>', 'a.>', 'a b', 'a\tb', 'a.b*', 'x'.repeat(513)];
    const badPatterns = ['', 'a..b', '.a', 'a.', 'a.>.b', '>.a', 'a*', 'a.b>', '*x', 'a b', 'x'.repeat(513)];

    test('invalid publish topics -> INVALID_TOPIC', async () => {
      const env = await startEnv();
      const c = await raw.connect(env.url, codec);
      await c.call({ t: 'sub', id: 1, sid: 1, pattern: '>' });
      for (const [i, topic] of badTopics.entries()) {
        const err = await c.call({ t: 'pub', id: 100 + i, topic, data: c.data(i), ack: 'submission' });
        expectErr(err, 'INVALID_TOPIC', 100 + i);
        expect(err.details).toEqual({ topic: clip(topic) }); // a long one echoed as its first characters
      }
      await expectNothingElse(c);
      await c.call({ t: 'unsub', id: 2, sid: 1 });
      await env.stillServes();
    });

    test('invalid patterns -> INVALID_PATTERN; valid wildcards are accepted', async () => {
      const env = await startEnv();
      const c = await raw.connect(env.url, codec);
      for (const [i, pattern] of badPatterns.entries()) {
        const err = await c.call({ t: 'sub', id: 200 + i, sid: 200 + i, pattern });
        expectErr(err, 'INVALID_PATTERN', 200 + i);
        expect(err.details).toEqual({ pattern: clip(pattern) });
      }
      await env.stillServes();
      for (const [i, pattern] of ['*', '>', 'a.*.c', 'a.>', 'x'.repeat(512)].entries()) {
        expect(await c.call({ t: 'sub', id: 300 + i, sid: 300 + i, pattern })).toEqual({ t: 'ok', re: 300 + i });
      }
    });

    test('a sid already in use -> DUPLICATE_ID; the first subscription is untouched', async () => {
      const env = await startEnv();
      const c = await raw.connect(env.url, codec);
      await c.call({ t: 'sub', id: 1, sid: 5, pattern: 'dup.one' });
      const err = await c.call({ t: 'sub', id: 2, sid: 5, pattern: 'dup.two' });
      expectErr(err, 'DUPLICATE_ID', 2);
      expect(err.details).toEqual({ sid: 5 });
      c.send({ t: 'pub', topic: 'dup.two', data: c.data(2) });
      c.send({ t: 'pub', topic: 'dup.one', data: c.data(1) });
      expect(await c.next((m) => m.t === 'msg')).toMatchObject({ sid: 5, topic: 'dup.one' });
      await expectNothingElse(c);
      await env.stillServes();
    });

    test('unsub of an unknown sid -> UNKNOWN_ID (also the second unsub of one sid)', async () => {
      const env = await startEnv();
      const c = await raw.connect(env.url, codec);
      const err = await c.call({ t: 'unsub', id: 1, sid: 404 });
      expectErr(err, 'UNKNOWN_ID', 1);
      expect(err.details).toEqual({ sid: 404 });
      await c.call({ t: 'sub', id: 2, sid: 9, pattern: 'u' });
      expect(await c.call({ t: 'unsub', id: 3, sid: 9 })).toEqual({ t: 'ok', re: 3 });
      expectErr(await c.call({ t: 'unsub', id: 4, sid: 9 }), 'UNKNOWN_ID', 4);
      await expectUsable(c);
      await env.stillServes();
    });

    test.each([
      ['ack', (tag: number) => ({ t: 'ack', tag })],
      ['nack', (tag: number) => ({ t: 'nack', tag, reason: 'no' })],
      ['rcv', (tag: number) => ({ t: 'rcv', tags: [tag] })],
    ])('%s of a tag never issued -> UNKNOWN_ID', async (_name, build) => {
      const env = await startEnv();
      const c = await raw.connect(env.url, codec);
      for (const tag of [1, 0, 4294967295]) {
        c.send(build(tag));
        const err = await c.error();
        expectErr(err, 'UNKNOWN_ID');
        expect(err.details).toEqual({ tag });
      }
      await expectNothingElse(c);
      await expectUsable(c);
      await env.stillServes();
    });

    test('rcv listing issued and never-issued tags: the valid ones count, one UNKNOWN_ID for the first unknown', async () => {
      const env = await startEnv();
      const receiver = await raw.connect(env.url, codec);
      const publisher = await raw.connect(env.url, codec);
      await receiver.call({ t: 'sub', id: 1, sid: 1, pattern: 'track' });
      publisher.send({ t: 'pub', id: 2, topic: 'track', data: publisher.data('x'), ack: 'delivery', timeout: 20_000 });
      const msg = await receiver.next((m) => m.t === 'msg');
      receiver.send({ t: 'rcv', tags: [msg.tag, msg.tag + 50, msg.tag + 60] });
      const err = await receiver.error();
      expectErr(err, 'UNKNOWN_ID');
      expect(err.details).toEqual({ tag: msg.tag + 50 });
      await expectNothingElse(receiver);
      expect(await publisher.reply(2)).toMatchObject({ t: 'receipt', re: 2, stage: 'delivery', receivers: 1, delivered: 1, timedOut: false });
      await env.stillServes();
    });

    test('a request (reply: true, ack processing) nobody subscribes to -> NO_RESPONDERS', async () => {
      const env = await startEnv();
      const c = await raw.connect(env.url, codec);
      const err = await c.call({ t: 'pub', id: 7, topic: 'svc.nobody', data: c.data('?'), ack: 'processing', reply: true });
      expectErr(err, 'NO_RESPONDERS', 7);
      expect(err.details).toEqual({ topic: 'svc.nobody' });
      await expectNothingElse(c);
      await expectUsable(c);
      await env.stillServes();
    });
  });

  describe('misbehaving peers do not hurt others', () => {
    test('a receiver that vanishes holding a delivery tag: the publisher still gets its receipt', async () => {
      const env = await startEnv();
      const receiver = await raw.connect(env.url, codec);
      const publisher = await raw.connect(env.url, codec);
      await receiver.call({ t: 'sub', id: 1, sid: 1, pattern: 'work' });
      publisher.send({ t: 'pub', id: 2, topic: 'work', data: publisher.data('job'), ack: 'processing', timeout: 20_000 });
      await receiver.next((m) => m.t === 'msg' && m.ack === 'processing');
      receiver.ws.terminate();
      const receipt = await publisher.reply(2);
      expect(receipt).toMatchObject({ t: 'receipt', re: 2, stage: 'processing', receivers: 1, processed: 0, timedOut: false });
      expect(receipt.missing).toHaveLength(1);
      await env.stillServes();
    });

    test('a publisher that vanishes: the receivers\' later answers are ignored quietly', async () => {
      const env = await startEnv();
      const receiver = await raw.connect(env.url, codec);
      const publisher = await raw.connect(env.url, codec);
      await receiver.call({ t: 'sub', id: 1, sid: 1, pattern: 'work' });
      publisher.send({ t: 'pub', id: 2, topic: 'work', data: publisher.data('a'), ack: 'processing', timeout: 20_000 });
      publisher.send({ t: 'pub', id: 3, topic: 'work', data: publisher.data('b'), ack: 'delivery', timeout: 20_000 });
      const a = await receiver.next((m) => m.t === 'msg' && m.ack === 'processing');
      const b = await receiver.next((m) => m.t === 'msg' && m.ack === 'delivery');
      await publisher.close();
      receiver.send([{ t: 'rcv', tags: [a.tag, b.tag] }, { t: 'ack', tag: a.tag }, { t: 'nack', tag: b.tag }]);
      await expectNothingElse(receiver);
      await env.stillServes();
    });

    test('a deeply nested payload gets a typed client error, not INTERNAL_ERROR', async () => {
      const env = await startEnv();
      const c = await raw.connect(env.url, codec);
      const depth = 100_000;
      if (codec === 'json') {
        c.sendRaw(`{"t":"pub","id":5,"topic":"deep","ack":"submission","data":${'['.repeat(depth)}${']'.repeat(depth)}}`, false);
      } else {
        const frame = new Uint8Array(depth + 1).fill(0x91); // fixarray of one element, nested
        frame[depth] = 0xc0;
        c.sendRaw(frame, true);
      }
      const err = await c.error();
      expect(err.code === 'DECODE_ERROR' || err.code === 'INVALID_FRAME' ? 'typed client error' : err.code).toBe('typed client error');
      await expectNothingElse(c);
      await expectUsable(c);
      await env.stillServes();
    });

    test('a burst of garbage and invalid frames', async () => {
      const env = await startEnv();
      const c = await raw.connect(env.url, codec);
      let expected = 0;
      for (let i = 0; i < 50; i++) {
        if (codec === 'json') c.sendRaw(`{"t":"pub","topic":${i}`, false);
        else c.sendRaw(Uint8Array.from([0xc7, 0xff, i]), true);
        c.send({ t: 'sub', id: i, sid: -i - 1, pattern: 'a' });
        expected += 2;
      }
      for (let i = 0; i < expected; i++) await c.error();
      await expectNothingElse(c);
      await expectUsable(c);
      await env.stillServes();
    });
  });
});

describe('mixed codecs on one topic', () => {
  test('a MessagePack payload that is not valid MessagePack, with a JSON receiver: a typed error, delivered to nobody', async () => {
    const env = await startEnv();
    const publisher = await raw.connect(env.url, 'msgpack');
    const packSub = await raw.connect(env.url, 'msgpack');
    const jsonSub = await raw.connect(env.url, 'json');
    // The MessagePack receiver first: a broken payload must not reach the early part of a fan-out either.
    await packSub.call({ t: 'sub', id: 1, sid: 1, pattern: 'mixed.>' });
    await jsonSub.call({ t: 'sub', id: 1, sid: 1, pattern: 'mixed.>' });
    // `data` must be the MessagePack encoding of the payload; these bytes encode nothing.
    const answer = await publisher.call({ t: 'pub', id: 5, topic: 'mixed.bad', data: Uint8Array.from([0xff, 0xfe, 0xfd]), ack: 'submission' });
    publisher.send({ t: 'pub', topic: 'mixed.good', data: publisher.data({ ok: true }) });
    const first = await Promise.all([packSub, jsonSub].map((sub) => sub.next((m) => m.t === 'msg')));
    expect({
      answer: answer.t === 'err' && (answer.code === 'DECODE_ERROR' || answer.code === 'INVALID_FRAME') ? 'typed client error' : answer,
      re: answer.re,
      firstTopicPerSubscriber: first.map((m) => m.topic),
    }).toEqual({
      answer: 'typed client error',
      re: 5,
      firstTopicPerSubscriber: ['mixed.good', 'mixed.good'],
    });
    expect(jsonSub.decodeData(first[1]!.data)).toEqual({ ok: true });
    await expectUsable(publisher);
    await env.stillServes();
  });

  test('a payload with 0xC1 nested inside, for a JSON receiver: DECODE_ERROR, delivered to nobody', async () => {
    const env = await startEnv();
    const publisher = await raw.connect(env.url, 'msgpack');
    const jsonSub = await raw.connect(env.url, 'json');
    await jsonSub.call({ t: 'sub', id: 1, sid: 1, pattern: 'c1.>' });
    const answer = await publisher.call({ t: 'pub', id: 5, topic: 'c1.bad', data: Uint8Array.from([0x91, 0xc1]), ack: 'submission' });
    expect([answer.t, answer.code, answer.re]).toEqual(['err', 'DECODE_ERROR', 5]);
    publisher.send({ t: 'pub', topic: 'c1.good', data: publisher.data(1) });
    expect((await jsonSub.next((m) => m.t === 'msg')).topic).toBe('c1.good');
    await env.stillServes();
  });

  test('a reply whose data is not valid MessagePack, to a JSON requester: the requester still gets a receipt', async () => {
    const env = await startEnv();
    const requester = await raw.connect(env.url, 'json');
    const responder = await raw.connect(env.url, 'msgpack');
    await responder.call({ t: 'sub', id: 1, sid: 1, pattern: 'svc.mixed' });
    requester.send({ t: 'pub', id: 2, topic: 'svc.mixed', data: '?', ack: 'processing', reply: true, timeout: 500 });
    const request = await responder.next((m) => m.t === 'msg');
    responder.send({ t: 'ack', tag: request.tag, data: Uint8Array.from([0xff, 0xfe, 0xfd]) });
    const err = await responder.error();
    expect(['INVALID_FRAME', 'DECODE_ERROR']).toContain(err.code);
    // protocol.md §8.4/§8.7: a receipt is sent once every receiver settled or the timeout (0.5 s)
    // passed, so the requester hears back in any case.
    const receipt = await requester.reply(2, 4_000).catch(() => 'no receipt within 4 s');
    expect(receipt).toEqual(expect.objectContaining({ t: 'receipt', re: 2, stage: 'processing' }));
    await expectUsable(responder);
    await env.stillServes();
  });
});

describe('startBroker options', () => {
  const bad: Array<[string, Record<string, unknown>, string]> = [
    ['an unknown option', { bogus: 1 }, 'bogus'],
    ['a misspelt option', { maxFramesBytes: 4096 }, 'maxFramesBytes'],
    ['a negative port', { port: -1 }, 'port'],
    ['a port over 65535', { port: 70_000 }, 'port'],
    ['a string maxFrameBytes', { maxFrameBytes: 'big' }, 'maxFrameBytes'],
    ['a maxFrameBytes under 16384', { maxFrameBytes: 16_383 }, 'maxFrameBytes'],
    ['maxSubscriptions 0', { maxSubscriptions: 0 }, 'maxSubscriptions'],
    ['a fractional heartbeatMs', { heartbeatMs: 1.5 }, 'heartbeatMs'],
    ['an unknown log level', { logLevel: 'loud' }, 'logLevel'],
    ['an empty host', { host: '' }, 'host'],
    ['an interceptor without a name', { interceptors: [{}] }, 'interceptors'],
  ];

  test.each(bad)('%s -> INVALID_OPTIONS', async (_name, options, named) => {
    const attempt = t.start(options as BrokerOptions);
    await expect(attempt).rejects.toBeInstanceOf(LindenError);
    await expect(attempt).rejects.toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining(named) });
  });
});
