/**
 * A receipt names a receiver as `dropped` exactly when the broker dropped the delivery to it
 * (protocol.md §11): a large delivery to a receiver still working through earlier large ones is
 * dropped, so a publisher waiting for `delivery` or `processing` hears so at once instead of
 * waiting out its timeout with the receiver among the `missing`. Raw frames, both codecs.
 */
import { packr } from '../protocol/codec.js';
import type { CodecName } from '../protocol/version.js';
import { fragment } from './helpers/fragments.js';
import { rawClients, type RawClient, type Received } from './helpers/raw-client.js';
import { testBroker } from './helpers/setup.js';

const t = testBroker();
const raw = rawClients();

afterEach(async () => {
  await raw.closeAll();
  await t.cleanup();
});

const MiB = 1024 * 1024;

describe.each<CodecName>(['msgpack', 'json'])('receipts of dropped deliveries over %s', (codec) => {
  /** A client that announced fragmentation: it may send and receive messages over one frame. */
  async function fragmenting(url: string): Promise<RawClient> {
    const c = await raw.open(url, codec);
    await c.hello({ ext: { fragmentation: { size: 65536 } } });
    return c;
  }

  /** A receiver subscribed to `big`, and to `shared` in group `g`, that has stopped reading. */
  async function stalledReceiver(url: string): Promise<RawClient> {
    const receiver = await fragmenting(url);
    expect(await receiver.call({ t: 'sub', id: receiver.id(), sid: 1, pattern: 'big' })).toMatchObject({ t: 'ok' });
    expect(await receiver.call({ t: 'sub', id: receiver.id(), sid: 2, pattern: 'shared', group: 'g' })).toMatchObject({ t: 'ok' });
    receiver.ws.pause();
    return receiver;
  }

  /** Sends `message` in fragments of at most 512 KiB (it is larger than a frame) and resolves with its reply. */
  function callInFragments(c: RawClient, message: { id: number; [field: string]: unknown }, timeoutMs?: number): Promise<Received> {
    const piece = codec === 'msgpack' ? packr.pack(message) : JSON.stringify(message);
    for (const f of fragment(piece, message.id, Math.ceil(piece.length / (512 * 1024)))) c.send(f);
    return c.reply(message.id, timeoutMs);
  }

  test('a large delivery dropped for a receiver with large ones pending: receipts for delivery and processing answer at once, receiver dropped', async () => {
    // The fragment sender keeps about 1 MiB on the wire, below this budget, and holds the rest.
    const broker = await t.start({ maxPendingBytes: 1.5 * MiB });
    const receiver = await stalledReceiver(broker.url);
    const member = await raw.connect(broker.url, codec); // takes no fragments: gets 256 KiB whole
    expect(await member.call({ t: 'sub', id: member.id(), sid: 7, pattern: 'shared', group: 'g' })).toMatchObject({ t: 'ok' });
    const publisher = await fragmenting(broker.url);
    // Larger than loopback TCP buffers absorb for a reader that never read (about 4 MiB), so
    // most of it waits in the broker as fragments still to cut.
    const first = await callInFragments(publisher, { t: 'pub', id: 1, topic: 'big', data: publisher.data('a'.repeat(16 * MiB)), ack: 'submission' });
    expect(first).toMatchObject({ t: 'receipt', receivers: 1, dropped: 0 });

    for (const [id, ack] of [[2, 'delivery'], [3, 'processing']] as const) {
      const receipt = await callInFragments(publisher, { t: 'pub', id, topic: 'big', data: publisher.data('b'.repeat(256 * 1024)), ack, timeout: 4_000 }, 10_000);
      expect(receipt).toMatchObject({ t: 'receipt', re: id, stage: ack, receivers: 1, delivered: 0, dropped: 1, timedOut: false });
      expect(receipt.missing).toEqual([{ connection: expect.any(String), sid: 1 }]);
    }
    // A group passes over the member that would drop the message, whatever its turn.
    for (const id of [4, 5]) {
      const answered = callInFragments(publisher, { t: 'pub', id, topic: 'shared', data: publisher.data('c'.repeat(256 * 1024)), ack: 'delivery', timeout: 4_000 }, 10_000);
      const msg = await member.next((m) => m.t === 'msg');
      member.send({ t: 'rcv', tags: [msg.tag] });
      expect(await answered).toMatchObject({ t: 'receipt', re: id, receivers: 1, delivered: 1, dropped: 0, timedOut: false });
    }
    receiver.ws.terminate(); // it reads nothing, so a close handshake would only wait
    await receiver.closed;
  }, 30_000);
});
