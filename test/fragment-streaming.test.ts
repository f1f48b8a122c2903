/**
 * A large transient `pub` is forwarded fragment by fragment as it arrives (issue 14), so the
 * broker never holds the whole message: receivers get fragments before the publisher has sent
 * them all, a message that breaks off is ended at the receivers with `abort` (protocol.md §2.3),
 * a submission receipt waits for the last byte, and whatever needs the whole message (a receiver
 * without fragmentation, a persistent message) still waits for it.
 */
import { packr } from '../protocol/codec.js';
import { fragment, type Frag } from './helpers/fragments.js';
import type { RawClient, Received } from './helpers/raw-client.js';
import { protocolSuite } from './helpers/protocol-suite.js';

const { t, raw } = protocolSuite();

/** 40,000 bytes, as MessagePack (a bin): over the 4 KiB fragments the receivers ask for. */
const VALUE = Buffer.from(Uint8Array.from({ length: 40_000 }, (_, i) => (i * 7919) % 251));
const PAYLOAD: Uint8Array = packr.pack(VALUE);
/** A broker of its own, never a cluster node (LINDEN_TEST_REDIS): a cluster node waits for the whole message. */
const ALONE = { redis: undefined };
const FRAGMENT_SIZE = 4096;

async function fragmentingClient(url: string, pattern: string): Promise<RawClient> {
  const c = await raw.open(url, 'msgpack');
  await c.hello({ ext: { fragmentation: { size: FRAGMENT_SIZE } } });
  expect(await c.call({ t: 'sub', id: c.id(), sid: 1, pattern })).toMatchObject({ t: 'ok' });
  return c;
}

/** A pub cut into `n` fragments by the publisher, as a raw client sends them. */
function pubFragments(fields: Record<string, unknown>, n = 4, fid = 5): Frag[] {
  return fragment(packr.pack({ t: 'pub', ...fields, data: PAYLOAD }), fid, n);
}

/** Every fragment of the message `first` starts, joined and decoded. */
async function reassemble(c: RawClient, first: Received): Promise<Record<string, unknown>> {
  const parts: Uint8Array[] = [first.data as Uint8Array];
  for (let seq = 1; seq < (first.n as number); seq++) {
    parts.push((await c.next((m) => m.t === 'frag' && m.fid === first.fid && m.seq === seq)).data as Uint8Array);
  }
  return packr.unpack(Buffer.concat(parts)) as Record<string, unknown>;
}

test('the receiver gets fragments before the publisher has sent the rest, and the message whole in the end', async () => {
  const broker = await t.start(ALONE);
  const sub = await fragmentingClient(broker.url, 'big.*');
  const pub = await raw.connect(broker.url, 'msgpack');
  const frags = pubFragments({ topic: 'big.one', hdr: { kind: 'file' } });
  pub.send(frags[0]!);
  // Only the first quarter has been sent: the receiver already has its first fragment.
  const first = await sub.next((m) => m.t === 'frag' && m.seq === 0);
  expect(first).toMatchObject({ seq: 0, size: expect.any(Number) });
  for (const f of frags.slice(1)) pub.send(f);
  const msg = await reassemble(sub, first);
  expect(msg).toMatchObject({ t: 'msg', sid: 1, topic: 'big.one', hdr: { kind: 'file' } });
  expect(Buffer.from(msg.data as Uint8Array).equals(Buffer.from(PAYLOAD))).toBe(true);
  const metrics = await (await fetch(broker.url.replace('ws', 'http') + '/metrics')).text();
  expect(metrics).toMatch(/^linden_messages_streamed_total 1$/m);
});

test('a publisher gone in the middle: the receiver is told to drop the message (abort)', async () => {
  const broker = await t.start(ALONE);
  const sub = await fragmentingClient(broker.url, 'big.*');
  const pub = await raw.connect(broker.url, 'msgpack');
  pub.send(pubFragments({ topic: 'big.one' })[0]!);
  const first = await sub.next((m) => m.t === 'frag' && m.seq === 0);
  pub.ws.terminate();
  const n = first.n as number;
  const abort = await sub.next((m) => m.t === 'frag' && m.abort === true);
  expect(abort).toMatchObject({ t: 'frag', fid: first.fid, seq: n - 1, n, abort: true });
  expect((abort.data as Uint8Array).length).toBe(0);
});

test('a fault in a later fragment: the publisher gets the fault once, the receiver an abort, and no receipt follows', async () => {
  const broker = await t.start(ALONE);
  const sub = await fragmentingClient(broker.url, 'big.*');
  const pub = await raw.connect(broker.url, 'msgpack');
  const id = pub.id();
  const frags = pubFragments({ topic: 'big.one', id, ack: 'submission' });
  pub.send(frags[0]!);
  const first = await sub.next((m) => m.t === 'frag' && m.seq === 0);
  pub.send(frags[2]!);
  expect(await pub.error('FRAGMENT_OUT_OF_ORDER')).toMatchObject({ details: { fid: 5, seq: 2, expected: 1 } });
  expect(await sub.next((m) => m.t === 'frag' && m.abort === true)).toMatchObject({ fid: first.fid });
  await pub.sync();
  expect(pub.unread()).toEqual([]);
});

test('a submission receipt waits for the last fragment', async () => {
  const broker = await t.start(ALONE);
  const sub = await fragmentingClient(broker.url, 'big.*');
  const pub = await raw.connect(broker.url, 'msgpack');
  const id = pub.id();
  const frags = pubFragments({ topic: 'big.one', id, ack: 'submission' });
  for (const f of frags.slice(0, -1)) pub.send(f);
  await sub.next((m) => m.t === 'frag' && m.seq === 0);
  await pub.sync();
  expect(pub.poll((m) => m.t === 'receipt')).toBeUndefined();
  pub.send(frags.at(-1)!);
  expect(await pub.reply(id)).toMatchObject({ t: 'receipt', stage: 'submission', receivers: 1 });
});

test('a delivery receipt counts the receiver once it has the whole message and acks it', async () => {
  await t.start(ALONE);
  const client = await t.client();
  let arrived: (data: Uint8Array) => void = () => {};
  const received = new Promise<Uint8Array>((resolve) => { arrived = resolve; });
  await client.subscribe<Uint8Array>('big.*', { callback: (m) => arrived(m.data) }).ready;
  const pub = await raw.connect(t.broker.url, 'msgpack');
  const id = pub.id();
  for (const f of pubFragments({ topic: 'big.one', id, ack: 'delivery' }, 8)) pub.send(f);
  expect(Buffer.from(await received).equals(VALUE)).toBe(true);
  expect(await pub.reply(id)).toMatchObject({ t: 'receipt', stage: 'delivery', receivers: 1, delivered: 1 });
});

test('whatever needs the whole message waits for it: a receiver without fragmentation, a persistent message', async () => {
  const broker = await t.start(ALONE);
  const fragmenting = await fragmentingClient(broker.url, 'big.*');
  const plain = await raw.connect(broker.url, 'msgpack');
  expect(await plain.call({ t: 'sub', id: plain.id(), sid: 2, pattern: 'big.plain' })).toMatchObject({ t: 'ok' });
  const pub = await raw.connect(broker.url, 'msgpack');
  for (const [topic, mode, fid] of [['big.plain', 'transient', 6], ['big.stored', 'persistent', 7]] as const) {
    const frags = pubFragments({ topic, mode }, 4, fid);
    for (const f of frags.slice(0, -1)) pub.send(f);
    await pub.sync();
    await fragmenting.sync();
    expect(fragmenting.poll((m) => m.t === 'frag')).toBeUndefined();
    pub.send(frags.at(-1)!);
    const first = await fragmenting.next((m) => m.t === 'frag' && m.seq === 0);
    expect(await reassemble(fragmenting, first)).toMatchObject({ t: 'msg', topic });
  }
  expect(await plain.next((m) => m.t === 'msg')).toMatchObject({ topic: 'big.plain', sid: 2 });
});
