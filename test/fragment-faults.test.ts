/**
 * Fragmented messages over raw frames, both codecs: valid `frag` sequences reach the handlers as
 * if they had arrived whole; every fault gets its `err` (no `re`, `details.fid`), discards the
 * partial message, stays quiet about that message's later fragments and leaves the connection
 * usable; the broker fragments deliveries only towards clients that announced fragmentation.
 */
import { packr } from '../protocol/codec.js';
import type { ErrorCode } from '../protocol/errors.js';
import { fragmentation } from '../protocol/fragmentation.js';
import type { CodecName } from '../protocol/version.js';
import type { Broker, BrokerOptions } from '../server/index.js';
import { byteSize, fragment, without, type EncodedMessage, type Frag } from './helpers/fragments.js';
import { type RawClient, type Received } from './helpers/raw-client.js';
import { protocolSuite } from './helpers/protocol-suite.js';
import { sharedBrokers } from './helpers/shared-brokers.js';

const { t, raw } = protocolSuite();
// Tests without interceptors share a broker per set of options; each starts once the last one's
// clients are let go (protocolSuite's afterEach, declared first, closes them).
const brokers = sharedBrokers();
afterEach(() => brokers.settled());

/** A broker as a fresh one: shared for plain options, a test's own for options with interceptors. */
function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  return options.interceptors ? t.start(options) : brokers.start(options);
}

type Piece = EncodedMessage;

/** Text with 1-, 2-, 3- and 4-byte UTF-8 characters, so JSON sizes count bytes, not characters. */
const TEXT = 'aé€😀"\\';

function encode(codec: CodecName, message: unknown): Piece {
  return codec === 'msgpack' ? packr.pack(message) : JSON.stringify(message);
}



/** A pub asking for a submission receipt: were it ever handled, a receipt would show it. */
function pubRequest(c: RawClient, id: number, topic = 'frag.check', repeat = 300): object {
  return { t: 'pub', id, topic, ack: 'submission', data: c.data({ text: TEXT.repeat(repeat), id }) };
}

/** Sends a fragmented request on fid `fid` and resolves with its reply. */
async function fragmentedCall(c: RawClient, fid: number, n = 3, repeat = 300): Promise<Received> {
  const id = c.id();
  for (const f of fragment(encode(c.codec!, pubRequest(c, id, 'frag.check', repeat)), fid, n)) c.send(f);
  return c.reply(id);
}

/** Answers to everything sent before have arrived, and none is left unread. */
async function expectNothingElse(c: RawClient): Promise<void> {
  await c.sync();
  expect(c.unread()).toEqual([]);
}

function expectFaultErr(err: Received, code: ErrorCode, details: Record<string, unknown>): void {
  expect(err).toMatchObject({ t: 'err', code, message: expect.any(String) });
  expect(err).not.toHaveProperty('re');
  expect(err.details).toMatchObject(details);
}

/** A fault: what is sent up to it, the answer, and the later fragments of that message. */
interface Fault {
  name: string;
  code: ErrorCode;
  build(f: Frag[], total: number, wrongData: unknown): { faulty: Frag[]; later: Frag[]; details: Record<string, unknown> };
}

const FID = 7;
const FAULTS: Fault[] = [
  { name: 'a skipped (missing or reordered) fragment', code: 'FRAGMENT_OUT_OF_ORDER',
    build: (f) => ({ faulty: [f[0], f[2]], later: [f[1], f[3]], details: { seq: 2, expected: 1 } }) },
  { name: 'a first fragment with seq > 0', code: 'FRAGMENT_OUT_OF_ORDER',
    build: (f) => ({ faulty: [f[1]], later: [f[2], f[3]], details: { seq: 1, expected: 0 } }) },
  { name: 'a fragment received twice', code: 'FRAGMENT_DUPLICATE',
    build: (f) => ({ faulty: [f[0], f[1], f[1]], later: [f[2], f[3]], details: { seq: 1 } }) },
  { name: 'an n that differs from the first fragment', code: 'FRAGMENT_TOTAL_MISMATCH',
    build: (f) => ({ faulty: [f[0], { ...f[1], n: 5 }], later: [f[2], f[3]], details: { seq: 1, n: 5, expected: 4 } }) },
  { name: 'a seq >= n', code: 'FRAGMENT_TOTAL_MISMATCH',
    build: (f) => ({ faulty: [f[0], { ...f[1], seq: 4 }], later: [f[1], f[2], f[3]], details: { seq: 4 } }) },
  { name: 'more bytes than size', code: 'FRAGMENT_TOTAL_MISMATCH',
    build: (f) => {
      const size = byteSize(f[0].data as Piece) + 1;
      return { faulty: [{ ...f[0], size }, f[1]], later: [f[2], f[3]], details: { size } };
    } },
  { name: 'fewer bytes than size at the last fragment', code: 'FRAGMENT_TOTAL_MISMATCH',
    build: (f, total) => ({ faulty: [{ ...f[0], size: total + 1 }, f[1], f[2], f[3]], later: [], details: { size: total + 1, received: total } }) },
  { name: 'a first fragment without size', code: 'INVALID_FRAME',
    build: (f) => ({ faulty: [without(f[0], 'size')], later: [f[1], f[2], f[3]], details: {} }) },
  { name: 'a non-integer seq', code: 'INVALID_FRAME',
    build: (f) => ({ faulty: [f[0], { ...f[1], seq: 1.5 }], later: [f[2], f[3]], details: {} }) },
  { name: 'a missing n', code: 'INVALID_FRAME',
    build: (f) => ({ faulty: [f[0], without(f[1], 'n')], later: [f[2], f[3]], details: {} }) },
  { name: 'data of the wrong type for the codec', code: 'INVALID_FRAME',
    build: (f, _total, wrongData) => ({ faulty: [f[0], { ...f[1], data: wrongData }], later: [f[2], f[3]], details: {} }) },
];

describe.each<CodecName>(['msgpack', 'json'])('fragments over %s', (codec) => {
  /** JSON wants a string slice, MessagePack a bin: each gets the other kind. */
  const wrongData = codec === 'msgpack' ? 'text' : [1, 2, 3];
  const chunk: Piece = codec === 'msgpack' ? Buffer.alloc(10, 1) : 'xxxxxxxxxx';

  async function connectTo(options: BrokerOptions = {}): Promise<RawClient> {
    const broker = await startBroker(options);
    return raw.connect(broker.url, codec);
  }

  describe('valid fragmented messages', () => {
    test('a 3-fragment pub is delivered to a subscriber, as if it had arrived whole', async () => {
      const pub = await connectTo();
      const sub = await raw.connect((await startBroker()).url, codec);
      expect(await sub.call({ t: 'sub', id: sub.id(), sid: 4, pattern: 'big.*' })).toMatchObject({ t: 'ok' });
      const value = { text: TEXT.repeat(2000), n: 1 };
      const frags = fragment(encode(codec, { t: 'pub', topic: 'big.one', data: pub.data(value) }), 1, 3);
      for (const f of frags) pub.send(f);
      const msg = await sub.next((m) => m.t === 'msg');
      expect(msg).toMatchObject({ sid: 4, topic: 'big.one' });
      expect(sub.decodeData(msg.data)).toEqual(value);
      // All fragments of a message in one WebSocket frame work as well.
      pub.send(fragment(encode(codec, { t: 'pub', topic: 'big.two', data: pub.data({ n: 2 }) }), 1, 3));
      expect(sub.decodeData((await sub.next((m) => m.t === 'msg')).data)).toEqual({ n: 2 });
      await expectNothingElse(pub);
      await expectNothingElse(sub);
    });

    test('a fragment before hello is refused like any other first message: HANDSHAKE_REQUIRED, close 4001', async () => {
      const broker = await startBroker();
      const c = await raw.open(broker.url, codec);
      const [first] = fragment(encode(codec, { t: 'hello', id: 1, v: 1 }), 1, 2);
      c.send(first!);
      expect(await c.next((m) => m.t === 'err')).toMatchObject({ code: 'HANDSHAKE_REQUIRED' });
      expect(await c.closed).toMatchObject({ code: 4001 });
    });

    test('a fragmented request with an id gets its reply naming that id', async () => {
      const c = await connectTo();
      const subId = c.id();
      for (const f of fragment(encode(codec, { t: 'sub', id: subId, sid: 9, pattern: 'frag.*' }), 3, 2)) c.send(f);
      expect(await c.reply(subId)).toEqual({ t: 'ok', re: subId });
      const receipt = await fragmentedCall(c, 4);
      expect(receipt).toMatchObject({ t: 'receipt', stage: 'submission', receivers: 1 });
      const msg = await c.next((m) => m.t === 'msg');
      expect(c.decodeData(msg.data)).toEqual({ text: TEXT.repeat(300), id: receipt.re });
      await expectNothingElse(c);
    });

    test('a reassembled array of messages is handled message by message', async () => {
      const c = await connectTo();
      const [a, b] = [c.id(), c.id()];
      for (const f of fragment(encode(codec, [pubRequest(c, a), { t: 'ping', id: b }]), 2, 3)) c.send(f);
      expect(await c.reply(a)).toMatchObject({ t: 'receipt', re: a });
      expect(await c.reply(b)).toEqual({ t: 'pong', re: b });
      await expectNothingElse(c);
    });

    test('fragments of two messages interleaved both arrive; a whole message in between is answered at once', async () => {
      const c = await connectTo();
      const [a, b] = [c.id(), c.id()];
      const fa = fragment(encode(codec, pubRequest(c, a, 'frag.a')), 1, 3);
      const fb = fragment(encode(codec, pubRequest(c, b, 'frag.b', 600)), 2, 3);
      c.send(fa[0]);
      c.send(fb[0]);
      await c.sync(); // a ping between fragments is not held back by the incomplete messages
      c.send(fa[1]);
      c.send(fb[1]);
      c.send(fb[2]);
      expect(await c.reply(b)).toMatchObject({ t: 'receipt', re: b });
      c.send(fa[2]);
      expect(await c.reply(a)).toMatchObject({ t: 'receipt', re: a });
      await expectNothingElse(c);
    });
  });

  describe('faults', () => {
    test.each(FAULTS.map((f) => [f.name, f] as const))('%s', async (_name, fault) => {
      const c = await connectTo();
      const piece = encode(codec, pubRequest(c, c.id()));
      const { faulty, later, details } = fault.build(fragment(piece, FID, 4), byteSize(piece), wrongData);
      for (const f of faulty) c.send(f);
      expectFaultErr(await c.error(fault.code), fault.code, { fid: FID, ...details });
      for (const f of later) c.send(f); // dropped quietly: one fault, one error
      await expectNothingElse(c);
      // The same fid starts afresh.
      expect(await fragmentedCall(c, FID)).toMatchObject({ t: 'receipt', stage: 'submission' });
      await expectNothingElse(c);
    });

    test('a reassembled message that is itself a frag: INVALID_FRAME', async () => {
      const c = await connectTo();
      const inner = fragment(encode(codec, { t: 'ping', id: c.id() }), 99, 1)[0];
      for (const f of fragment(encode(codec, inner), FID, 2)) c.send(f);
      expectFaultErr(await c.error('INVALID_FRAME'), 'INVALID_FRAME', { fid: FID });
      await expectNothingElse(c);
      expect(await fragmentedCall(c, FID)).toMatchObject({ t: 'receipt' });
    });

    test('reassembled bytes that do not decode: DECODE_ERROR naming the fid', async () => {
      const c = await connectTo();
      const whole = encode(codec, pubRequest(c, c.id()));
      for (const f of fragment(whole.slice(0, whole.length - 5), FID, 3)) c.send(f);
      expectFaultErr(await c.error('DECODE_ERROR'), 'DECODE_ERROR', { fid: FID });
      await expectNothingElse(c);
      expect(await fragmentedCall(c, FID)).toMatchObject({ t: 'receipt' });
    });

    test('a frag without fid: INVALID_FRAME, and the connection still works', async () => {
      const c = await connectTo();
      const [f0] = fragment(encode(codec, pubRequest(c, c.id())), FID, 2);
      c.send(without(f0!, 'fid'));
      const err = await c.error('INVALID_FRAME');
      expect(err).not.toHaveProperty('re');
      expect(err.details?.fid ?? undefined).toBeUndefined();
      await expectNothingElse(c);
      expect(await fragmentedCall(c, FID)).toMatchObject({ t: 'receipt' });
    });

    test('a fault in one message leaves another one being reassembled intact', async () => {
      const c = await connectTo();
      const good = c.id();
      const fg = fragment(encode(codec, pubRequest(c, good)), 1, 3);
      const fbad = fragment(encode(codec, pubRequest(c, c.id())), 2, 3);
      c.send(fg[0]);
      c.send(fbad[0]);
      c.send(fbad[2]);
      expectFaultErr(await c.error('FRAGMENT_OUT_OF_ORDER'), 'FRAGMENT_OUT_OF_ORDER', { fid: 2 });
      c.send(fg[1]);
      c.send(fg[2]);
      expect(await c.reply(good)).toMatchObject({ t: 'receipt', re: good });
      await expectNothingElse(c);
    });
  });

  describe('limits', () => {
    test.each([[undefined, 8], [2, 2]])('FRAGMENT_LIMIT with maxAssemblies %s: more than %i incomplete messages', async (max, limit) => {
      const c = await connectTo(max === undefined ? {} : { interceptors: [fragmentation({ maxAssemblies: max })] });
      const messages = Array.from({ length: limit + 1 }, (_, i) => {
        const id = c.id();
        return { id, fid: 100 + i, frags: fragment(encode(codec, pubRequest(c, id)), 100 + i, 2) };
      });
      const open = messages.slice(0, limit);
      const refused = messages[limit]!;
      for (const m of open) c.send(m.frags[0]!);
      c.send(refused.frags[0]!);
      expectFaultErr(await c.error('FRAGMENT_LIMIT'), 'FRAGMENT_LIMIT', { fid: refused.fid, limit });
      c.send(refused.frags[1]!);
      for (const m of open) c.send(m.frags[1]!);
      for (const m of open) expect(await c.reply(m.id)).toMatchObject({ t: 'receipt', re: m.id });
      await expectNothingElse(c);
      // With room again the refused fid goes through.
      expect(await fragmentedCall(c, refused.fid)).toMatchObject({ t: 'receipt' });
    });

    test.each<[string, BrokerOptions, number]>([
      ['the broker maxMessageBytes + 64 KiB', { maxMessageBytes: 2048 }, 2048 + 65536],
      ['fragmentation({ maxMessageBytes })', { interceptors: [fragmentation({ maxMessageBytes: 5000 })] }, 5000],
    ])('MESSAGE_TOO_LARGE on fragment 0, before the data arrives (limit: %s)', async (_name, options, limit) => {
      const c = await connectTo(options);
      c.send({ t: 'frag', fid: 5, seq: 0, n: 1000, size: limit + 1, data: chunk });
      expectFaultErr(await c.error('MESSAGE_TOO_LARGE'), 'MESSAGE_TOO_LARGE', { fid: 5, bytes: limit + 1, limit });
      c.send({ t: 'frag', fid: 5, seq: 1, n: 1000, data: chunk });
      c.send({ t: 'frag', fid: 5, seq: 999, n: 1000, data: chunk });
      await expectNothingElse(c);
      // Exactly the limit is accepted at fragment 0.
      c.send({ t: 'frag', fid: 6, seq: 0, n: 2, size: limit, data: chunk });
      await expectNothingElse(c);
      expect(await fragmentedCall(c, 5, 3, 10)).toMatchObject({ t: 'receipt' });
    });

    test('FRAGMENT_TIMEOUT: incomplete after assemblyTimeoutMs; complete messages never time out', async () => {
      const c = await connectTo({ interceptors: [fragmentation({ assemblyTimeoutMs: 200 })] });
      expect(await fragmentedCall(c, 1)).toMatchObject({ t: 'receipt' });
      const frags = fragment(encode(codec, pubRequest(c, c.id())), 2, 3);
      c.send([frags[0]!, frags[1]!]); // one frame: both are in before any timer can fire
      expectFaultErr(await c.error('FRAGMENT_TIMEOUT'), 'FRAGMENT_TIMEOUT', { fid: 2, received: 2, n: 3 });
      c.send(frags[2]!);
      // fid 1's timer, had it not been cleared, would have fired before fid 2's.
      await expectNothingElse(c);
      expect(await fragmentedCall(c, 2)).toMatchObject({ t: 'receipt' });
    });
  });

  describe('deliveries towards clients', () => {
    test.each<[BrokerOptions, number]>([
      [{}, 1024 * 1024 - 8192],
      [{ maxFrameBytes: 200_000, maxMessageBytes: 100_000 }, 100_000],
      [{ maxFrameBytes: 200_000, maxMessageBytes: 500_000 }, 200_000 - 8192],
    ])('welcome limits.maxMessageBytes without fragmentation: min(maxMessageBytes, maxFrameBytes - 8192) (%j)', async (options, expected) => {
      const broker = await startBroker(options);
      const plain = await raw.open(broker.url, codec);
      expect((await plain.hello()).limits.maxMessageBytes).toBe(expected);
      const fragmenting = await raw.open(broker.url, codec);
      const welcome = await fragmenting.hello({ ext: { fragmentation: { size: 4096 } } });
      expect(welcome.limits.maxMessageBytes).toBe(options.maxMessageBytes ?? 64 * 1024 * 1024);
      // The default 256 KiB, or less where the broker's frame limit leaves less room (protocol.md §4.5).
      expect(welcome.ext).toEqual({ fragmentation: { size: Math.min(256 * 1024, (options.maxFrameBytes ?? 1024 * 1024) - 128) } });
    });

    test('a large delivery: whole to a client that did not announce fragmentation, in frags of <= 4 KiB to one that did', async () => {
      const broker = await startBroker();
      const plain = await raw.connect(broker.url, codec);
      const fragmenting = await raw.open(broker.url, codec);
      await fragmenting.hello({ ext: { fragmentation: { size: 4096 } } });
      for (const c of [plain, fragmenting]) expect(await c.call({ t: 'sub', id: c.id(), sid: 3, pattern: 'large' })).toMatchObject({ t: 'ok' });
      const pub = await raw.connect(broker.url, codec);
      const value = { text: TEXT.repeat(15_000) }; // ~150 KB, over the 64 KiB fragment size
      pub.send({ t: 'pub', topic: 'large', data: pub.data(value) });

      const whole = await plain.next((m) => m.t === 'msg');
      expect(plain.decodeData(whole.data)).toEqual(value);
      expect(plain.messages.some((m) => m.t === 'frag')).toBe(false);

      const first = await fragmenting.next((m) => m.t === 'frag');
      expect(first).toMatchObject({ seq: 0, size: expect.any(Number) });
      const { fid, n } = first;
      expect(n).toBeGreaterThan(30);
      const frags = [first];
      for (let seq = 1; seq < n; seq++) frags.push(await fragmenting.next((m) => m.t === 'frag' && m.fid === fid && m.seq === seq));
      for (const f of frags) {
        expect(f.n).toBe(n);
        if (f.seq > 0) expect(f).not.toHaveProperty('size');
        if (codec === 'msgpack') {
          expect(f.data).toBeInstanceOf(Uint8Array);
        } else {
          expect(typeof f.data).toBe('string');
          const last = (f.data as string).charCodeAt(f.data.length - 1);
          expect(last >= 0xd800 && last <= 0xdbff).toBe(false); // never cut inside a surrogate pair
        }
        expect(byteSize(f.data)).toBeLessThanOrEqual(4096);
      }
      const joined = codec === 'msgpack' ? Buffer.concat(frags.map((f) => f.data as Uint8Array)) : frags.map((f) => f.data as string).join('');
      expect(byteSize(joined)).toBe(first.size);
      const message = typeof joined === 'string' ? JSON.parse(joined) : packr.unpack(joined);
      expect(message).toMatchObject({ t: 'msg', sid: 3, topic: 'large' });
      expect(fragmenting.decodeData(message.data)).toEqual(value);
      expect(fragmenting.messages.some((m) => m.t === 'msg')).toBe(false);
      await expectNothingElse(plain);
      await expectNothingElse(fragmenting);
    });
  });
});
