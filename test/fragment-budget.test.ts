/**
 * What partial fragmented messages may hold on the broker (protocol.md §2.3): bytes count as
 * they arrive, never from the `size` a first fragment announces, against a cap per connection,
 * per peer address and for all connections. A client cannot take the room others need with
 * first fragments of a few bytes; a fragment that would cross a cap gets FRAGMENT_LIMIT and
 * discards only its own message. Raw frames, both codecs.
 */
import { packr } from '../protocol/codec.js';
import { fragmentation, type FragmentationOptions } from '../protocol/fragmentation.js';
import type { CodecName } from '../protocol/version.js';
import { byteSize, fragment, type EncodedMessage, type Frag } from './helpers/fragments.js';
import { type RawClient } from './helpers/raw-client.js';
import { protocolSuite } from './helpers/protocol-suite.js';

const { t, raw } = protocolSuite();

function encode(codec: CodecName, message: unknown): EncodedMessage {
  return codec === 'msgpack' ? packr.pack(message) : JSON.stringify(message);
}

/** A pub asking for a submission receipt, `text` as its payload. */
function pubRequest(codec: CodecName, id: number, text: string): unknown {
  return { t: 'pub', id, topic: 'budget.check', ack: 'submission', data: codec === 'msgpack' ? packr.pack(text) : text };
}

/** A first fragment carrying one byte of data, for a message announced as `size` bytes. */
function tinyFirst(codec: CodecName, fid: number, size: number): Frag {
  return { t: 'frag', fid, seq: 0, n: 2, size, data: codec === 'msgpack' ? Buffer.from([0x90]) : '{' };
}

/** A ping cut into a first fragment of one byte (held open) and the rest. */
function heldPing(codec: CodecName, fid: number, id: number): { first: Frag; rest: Frag } {
  const piece = encode(codec, { t: 'ping', id });
  return {
    first: { t: 'frag', fid, seq: 0, n: 2, size: byteSize(piece), data: piece.slice(0, 1) },
    rest: { t: 'frag', fid, seq: 1, n: 2, data: piece.slice(1) },
  };
}

async function expectNothingElse(c: RawClient): Promise<void> {
  await c.sync();
  expect(c.unread()).toEqual([]);
}

function sendAll(c: RawClient, frags: Frag[]): void {
  for (const f of frags) c.send(f);
}

describe.each<CodecName>(['msgpack', 'json'])('reassembly budget over %s', (codec) => {
  test('first fragments of 64 MiB messages from 4 connections do not lock out another client\'s 300 kB request', async () => {
    const broker = await t.start();
    const attackers = await Promise.all([1, 2, 3, 4].map(() => raw.connect(broker.url, codec)));
    for (const a of attackers) {
      a.send(tinyFirst(codec, 1, 64 * 1024 * 1024));
      a.send(tinyFirst(codec, 2, 64 * 1024 * 1024));
    }
    for (const a of attackers) await expectNothingElse(a);

    const other = await raw.connect(broker.url, codec);
    const id = other.id();
    sendAll(other, fragment(encode(codec, pubRequest(codec, id, 'x'.repeat(300_000))), 9, 5));
    expect(await other.next((m) => m.re === id || m.t === 'err')).toMatchObject({ t: 'receipt', re: id, stage: 'submission' });
    await expectNothingElse(other);
  });

  /** A request of exactly `bytes` encoded bytes (the id keeps its width, so two of them match). */
  function requestOfSize(id: number, bytes: number): EncodedMessage {
    for (let length = bytes; length > 0; length--) {
      const piece = encode(codec, pubRequest(codec, id, 'y'.repeat(length)));
      if (byteSize(piece) === bytes) return piece;
    }
    throw new Error(`no request of ${bytes} bytes`);
  }

  async function brokerWith(options: FragmentationOptions): Promise<string> {
    return (await t.start({ interceptors: [fragmentation(options)] })).url;
  }

  test('per connection: a message of exactly the cap passes; one byte more, and the fragment that crosses it gets FRAGMENT_LIMIT', async () => {
    const cap = 5_000;
    const c = await raw.connect(await brokerWith({ maxReassemblyBytesPerConnection: cap }), codec);
    sendAll(c, fragment(requestOfSize(2001, cap), 1, 3));
    expect(await c.reply(2001)).toMatchObject({ t: 'receipt', re: 2001 });

    const held = heldPing(codec, 2, 3001);
    c.send(held.first); // one byte held: the next message of `cap` bytes no longer fits
    sendAll(c, fragment(requestOfSize(2002, cap), 3, 3));
    const err = await c.error('FRAGMENT_LIMIT');
    expect(err).not.toHaveProperty('re');
    expect(err.details).toMatchObject({ fid: 3, seq: 2, scope: 'connection', limit: cap });
    // Only the message that crossed the cap is gone: the one held still completes.
    c.send(held.rest);
    expect(await c.reply(3001)).toEqual({ t: 'pong', re: 3001 });
    await expectNothingElse(c);
    // And with nothing held, the same message passes again.
    sendAll(c, fragment(requestOfSize(2003, cap), 3, 3));
    expect(await c.reply(2003)).toMatchObject({ t: 'receipt', re: 2003 });
  });

  test('a first fragment announcing more than a connection may ever hold is refused at once', async () => {
    const c = await raw.connect(await brokerWith({ maxReassemblyBytesPerConnection: 5_000 }), codec);
    c.send(tinyFirst(codec, 4, 5_001));
    expect((await c.error('FRAGMENT_LIMIT')).details).toMatchObject({ fid: 4, size: 5_001, scope: 'connection', limit: 5_000 });
    c.send({ t: 'frag', fid: 4, seq: 1, n: 2, data: codec === 'msgpack' ? Buffer.alloc(10) : 'x' });
    await expectNothingElse(c);
  });

  test('per address: the connections of one host share a cap; at exactly the cap a message passes, one byte more gets FRAGMENT_LIMIT', async () => {
    const cap = 5_000;
    const url = await brokerWith({ maxReassemblyBytesPerAddress: cap, maxReassemblyBytesPerConnection: 100_000 });
    const [one, two] = [await raw.connect(url, codec), await raw.connect(url, codec)];
    const held = heldPing(codec, 1, 3001);
    one.send(held.first);
    await one.sync(); // one byte held by the host before the other connection sends
    const frags = fragment(requestOfSize(2001, cap), 1, 3);
    sendAll(two, frags);
    const heldBefore = 1 + cap - byteSize(frags[2]!.data);
    expect((await two.error('FRAGMENT_LIMIT')).details).toMatchObject({ fid: 1, seq: 2, scope: 'address', limit: cap, held: heldBefore });
    await expectNothingElse(two);

    one.send(held.rest);
    expect(await one.reply(3001)).toEqual({ t: 'pong', re: 3001 });
    // Nothing held by the host any more: a message of exactly the cap passes on the other connection.
    sendAll(two, fragment(requestOfSize(2002, cap), 2, 3));
    expect(await two.reply(2002)).toMatchObject({ t: 'receipt', re: 2002 });
    await expectNothingElse(one);
  });
});
