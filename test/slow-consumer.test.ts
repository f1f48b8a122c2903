/**
 * Output that is never dropped, towards a client that reads slowly or not at all (protocol.md
 * §11): durable deliveries wait in their durable subscription, not in the connection's outbound
 * buffer, and go to consumers that read; tuple-space events, which cannot wait anywhere else,
 * close the connection with 4007 once its outbound buffer passes 4 × maxPendingBytes. Either way
 * what the broker buffers for the connection stays bounded. Raw frames, both codecs; the reader
 * pauses its socket, and the broker's own figure (the admin view's pendingBytes) is watched.
 */
import { packr } from '../protocol/codec.js';
import { CLOSE_CODES } from '../protocol/errors.js';
import type { CodecName } from '../protocol/version.js';
import { fragment } from './helpers/fragments.js';
import { type RawClient } from './helpers/raw-client.js';
import { protocolSuite } from './helpers/protocol-suite.js';

const { t, raw } = protocolSuite();

const KiB = 1024;
const MiB = 1024 * KiB;
const MAX_PENDING = 64 * KiB;

/** What the broker holds for connection `id` now (the admin view), or undefined once it is gone. */
async function pendingBytesOf(url: string, id: string): Promise<number | undefined> {
  const res = await fetch(url.replace(/^ws/, 'http') + '/api/connections');
  const list = (await res.json()) as { id: string; pendingBytes: number }[];
  return list.find((c) => c.id === id)?.pendingBytes;
}

describe.each<CodecName>(['msgpack', 'json'])('slow consumers over %s', (codec) => {
  /** `fragments`: the client announces fragmentation, so messages over a frame may reach it. */
  async function connect(url: string, fragments = false): Promise<{ c: RawClient; id: string }> {
    const c = await raw.open(url, codec);
    const welcome = await c.hello(fragments ? { ext: { fragmentation: { size: 65536 } } } : {});
    return { c, id: welcome.connectionId as string };
  }

  test('durable deliveries wait in their subscription while a consumer does not read, and reach the one that does', async () => {
    const broker = await t.start({ maxPendingBytes: MAX_PENDING });
    const { c: stalled, id: stalledId } = await connect(broker.url);
    const { c: reader } = await connect(broker.url);
    const { c: publisher } = await connect(broker.url);
    for (const c of [stalled, reader]) {
      expect(await c.call({ t: 'sub', id: c.id(), sid: 1, pattern: 'job.*', durable: 'jobs' })).toMatchObject({ t: 'ok' });
    }
    stalled.ws.pause();

    const total = 300;
    const size = 64 * KiB; // half to the stalled consumer is more than loopback TCP buffers take
    const received = new Set<string>();
    const consumed = (async () => {
      while (received.size < total) {
        const msg = await reader.next((m) => m.t === 'msg', 20_000);
        received.add(msg.mid as string);
        reader.send({ t: 'ack', tag: msg.tag });
      }
    })();

    let most = 0;
    for (let i = 0; i < total; i += 10) { // 10 publishes of 64 KiB a frame, under maxFrameBytes
      const ids = Array.from({ length: 10 }, () => publisher.id());
      publisher.send(ids.map((id, j) => ({ t: 'pub', id, topic: 'job.x', mode: 'persistent', ack: 'submission', data: publisher.data(`${i + j} `.padEnd(size, 'x')) })));
      for (const id of ids) expect(await publisher.reply(id)).toMatchObject({ t: 'receipt' });
      most = Math.max(most, (await pendingBytesOf(broker.url, stalledId))!);
    }
    // Over the budget by one delivery at most: the rest waits in the durable subscription.
    expect(most).toBeLessThanOrEqual(MAX_PENDING + size + KiB);

    // What the stalled consumer holds unacknowledged goes to the reader once it is gone.
    stalled.ws.terminate();
    await consumed;
    expect(received.size).toBe(total);
  }, 30_000);

  test('tuple-space events to a client that does not read: closed with 4007 at 4 × maxPendingBytes, no event missing before; a reader is untouched', async () => {
    const broker = await t.start({ maxPendingBytes: MAX_PENDING });
    const { c: watcher, id: watcherId } = await connect(broker.url);
    const { c: reader } = await connect(broker.url);
    const { c: writer } = await connect(broker.url);
    for (const c of [watcher, reader]) {
      expect(await c.call({ t: 'notify', id: c.id(), nid: 1, space: 'feed', template: ['e', { $any: true }] })).toMatchObject({ t: 'ok' });
    }
    watcher.ws.pause();

    const size = 32 * KiB;
    let most = 0;
    let written = 0;
    // Batches of 6 outs of 32 KiB (each batch's events fit under the cap), until the broker lets
    // the watcher go: well past what loopback TCP buffers and the cap take together if it never does.
    for (let batch = 0; batch < 80; batch++) {
      const steps = Array.from({ length: 6 }, (_, i) => ({ op: 'out', tuple: ['e', `${batch}.${i} `.padEnd(size, 'x')] }));
      expect(await writer.call({ t: 'batch', id: writer.id(), space: 'feed', steps })).toMatchObject({ t: 'batched' });
      written += steps.length;
      const pending = await pendingBytesOf(broker.url, watcherId);
      if (pending === undefined) break;
      most = Math.max(most, pending);
    }
    expect(await pendingBytesOf(broker.url, watcherId)).toBeUndefined();
    expect(most).toBeLessThanOrEqual(4 * MAX_PENDING + size + KiB);
    // The writer is not held up meanwhile, and the reader got every event.
    expect(await writer.call({ t: 'count', id: writer.id(), space: 'feed', template: ['e', { $any: true }] })).toMatchObject({ count: written });
    await reader.next((m) => m.t === 'event' && m.seq === written);
    expect(reader.isClosed).toBe(false);

    // Reading again, the watcher gets the events sent before the close, in order, then the close.
    watcher.ws.resume();
    expect(await watcher.closed).toEqual({ code: CLOSE_CODES.SLOW_CONSUMER.code, reason: expect.stringMatching(/slow consumer/) });
    const seqs = watcher.messages.filter((m) => m.t === 'event').map((m) => m.seq as number);
    expect(seqs.length).toBeGreaterThan(0);
    expect(seqs).toEqual(seqs.map((_s, i) => i + 1));
  }, 30_000);

  test('an event to a client with a large delivery still to cut is not held against it: it stays open and gets both', async () => {
    const broker = await t.start({ maxPendingBytes: MiB });
    const { c: watcher, id: watcherId } = await connect(broker.url, true);
    const { c: publisher } = await connect(broker.url, true);
    expect(await watcher.call({ t: 'sub', id: watcher.id(), sid: 1, pattern: 'big' })).toMatchObject({ t: 'ok' });
    expect(await watcher.call({ t: 'notify', id: watcher.id(), nid: 1, space: 'feed', template: ['e'] })).toMatchObject({ t: 'ok' });
    watcher.ws.pause();

    const big = { t: 'pub', id: 1, topic: 'big', ack: 'submission', data: publisher.data('b'.repeat(12 * MiB)) };
    const piece = codec === 'msgpack' ? packr.pack(big) : JSON.stringify(big);
    for (const f of fragment(piece, 1, 24)) publisher.send(f);
    expect(await publisher.reply(1)).toMatchObject({ t: 'receipt', dropped: 0 });
    // More than the events' cap waits in the broker, nearly all of it fragments still to cut.
    expect(await pendingBytesOf(broker.url, watcherId)).toBeGreaterThan(4 * MiB);

    expect(await publisher.call({ t: 'out', id: 2, space: 'feed', tuple: ['e'], ack: 'submission' })).toMatchObject({ t: 'lease' });
    watcher.ws.resume();
    expect(await watcher.next((m) => m.t === 'event', 20_000)).toMatchObject({ nid: 1, seq: 1, type: 'out' });
    await watcher.next((m) => m.t === 'frag' && m.seq === m.n - 1, 20_000);
    await watcher.sync();
    expect(watcher.isClosed).toBe(false);
  }, 30_000);
});
