/**
 * Large payloads through the SDK and a real broker with 1 MiB frames: they cross in fragments,
 * both ways, intact (hash-checked), without holding up small messages behind them.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { Message } from '../client-sdk/index.js';
import { packr } from '../protocol/codec.js';
import { SUBPROTOCOLS } from '../protocol/version.js';
import { take, testBroker, until } from './helpers/setup.js';

const MiB = 1024 * 1024;
const t = testBroker();
afterEach(() => t.cleanup());

/** Random bytes, so a misplaced fragment cannot go unnoticed. */
function payload(bytes: number): Buffer {
  return randomFillSync(Buffer.allocUnsafe(bytes));
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('large payloads with maxFrameBytes of 1 MiB', () => {
  beforeEach(() => t.start({ maxFrameBytes: MiB }));

  test.each([20, 50])('%i MiB published and delivered intact, both ways fragmented', async (mib) => {
    const pub = await t.client();
    const sub = (await t.client()).subscribe<Buffer>('files.big');
    await sub.ready;
    const data = payload(mib * MiB);
    const receipt = await pub.publish('files.big', data, { ack: 'delivery', headers: { name: `${mib}.bin` } });
    expect(receipt.delivered).toBe(1);
    const [msg] = await take(sub, 1);
    expect(msg!.headers).toEqual({ name: `${mib}.bin` });
    expect(msg!.data.length).toBe(data.length);
    expect(sha(msg!.data)).toBe(sha(data));
  }, 60_000);

  test('a fragmented message counts once in its connection\'s messagesIn, not once per fragment', async () => {
    const pub = await t.client({ name: 'big-publisher' });
    await pub.publish('nobody', payload(5 * MiB), { ack: 'submission' });
    const response = await fetch(`http://127.0.0.1:${t.broker.port}/api/connections`);
    const views = (await response.json()) as { name?: string; messagesIn: number }[];
    // hello, the publish
    expect(views.find((c) => c.name === 'big-publisher')).toMatchObject({ messagesIn: 2 });
  });

  test('a 20 MiB reply to a request, and a 20 MiB request', async () => {
    const responder = await t.client();
    const requester = await t.client();
    const sub = responder.subscribe<Buffer>('svc.echo', {
      callback: (m: Message<Buffer>) => m.reply(Buffer.concat([m.data, m.data])),
    });
    await sub.ready;
    const data = payload(10 * MiB);
    const reply = await requester.request<Buffer>('svc.echo', data, { timeout: 30_000 });
    expect(reply.length).toBe(20 * MiB);
    expect(sha(reply)).toBe(sha(Buffer.concat([data, data])));
  }, 60_000);

  test('a 20 MiB tuple goes out and is taken intact', async () => {
    const writer = (await t.client()).space('blobs');
    const taker = (await t.client()).space('blobs');
    const data = payload(20 * MiB);
    const waiting = taker.in<[string, Buffer]>(['blob', { $type: 'binary' }]);
    await writer.out(['blob', data]);
    const tuple = await waiting;
    expect(sha(tuple![1])).toBe(sha(data));
  }, 60_000);

  test('a small message sent right after a large one arrives first', async () => {
    const pub = await t.client();
    const receiver = await t.client();
    const order: string[] = [];
    const big = receiver.subscribe('big', { callback: () => { order.push('big'); } });
    const small = receiver.subscribe('small', { callback: () => { order.push('small'); } });
    await Promise.all([big.ready, small.ready]);
    const sent = pub.publish('big', payload(20 * MiB), { ack: 'delivery' });
    const smallSent = pub.publish('small', 'hi', { ack: 'delivery' });
    await Promise.all([sent, smallSent]);
    expect(order).toEqual(['small', 'big']);
  }, 60_000);

  test('a small message published after a large one was submitted overtakes its delivery', async () => {
    const bigPublisher = await t.client();
    const smallPublisher = await t.client();
    const receiver = await t.client();
    const order: string[] = [];
    const big = receiver.subscribe('big', { callback: () => { order.push('big'); } });
    const small = receiver.subscribe('small', { callback: () => { order.push('small'); } });
    await Promise.all([big.ready, small.ready]);
    // Submission: the broker holds the whole message and has started streaming it to the receiver.
    await bigPublisher.publish('big', payload(50 * MiB), { ack: 'submission' });
    await smallPublisher.publish('small', 'hi', { ack: 'delivery' });
    await until(() => order.length === 2, 30_000).catch((e) => { throw new Error(`order ${JSON.stringify(order)}: ${e}`); });
    expect(order).toEqual(['small', 'big']);
  }, 60_000);

  test('JSON clients: a 3 MiB string with non-ASCII text crosses in fragments', async () => {
    const pub = await t.client({ codec: 'json' });
    const sub = (await t.client({ codec: 'json' })).subscribe<string>('text');
    const other = (await t.client()).subscribe<string>('text');
    await Promise.all([sub.ready, other.ready]);
    const text = 'ünïcödé 😀 "quoted" \\ '.repeat(120_000);
    expect(text.length).toBeGreaterThan(2.5 * MiB);
    await pub.publish('text', text, { ack: 'delivery' });
    const [[json], [msgpack]] = await Promise.all([take(sub, 1), take(other, 1)]);
    expect(json!.data).toBe(text);
    expect(msgpack!.data).toBe(text);
  }, 60_000);

  test('a payload over maxMessageBytes is refused before it is sent', async () => {
    await t.cleanup();
    await t.start({ maxFrameBytes: MiB, maxMessageBytes: 2 * MiB });
    const c = await t.client();
    await expect(c.publish('x', payload(3 * MiB), { ack: 'submission' })).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE' });
    await expect(c.publish('x', 'still usable', { ack: 'submission' })).resolves.toMatchObject({ stage: 'submission' });
  });
});

describe('flow control', () => {
  test('a subscriber that stops reading holds one large transient message, later ones are dropped and reported', async () => {
    const broker = await t.start({ maxFrameBytes: MiB, maxPendingBytes: MiB });
    const ws = new WebSocket(broker.url, [SUBPROTOCOLS.msgpack]);
    const replies = new Map<number, Record<string, unknown>>();
    ws.on('message', (data: Buffer) => {
      const messages = packr.unpack(data) as Record<string, unknown> | Record<string, unknown>[];
      for (const m of Array.isArray(messages) ? messages : [messages]) if (typeof m.re === 'number') replies.set(m.re, m);
    });
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(packr.pack({ t: 'hello', id: 0, v: 1, ext: { fragmentation: { size: 65536 } } }));
    ws.send(packr.pack({ t: 'sub', id: 1, sid: 1, pattern: 'big' }));
    await until(() => replies.has(1));
    ws.pause();

    const pub = await t.client();
    const receipts = [];
    // Larger than what loopback TCP buffers can absorb (a few MiB each way), so the broker holds the rest.
    for (let i = 0; i < 4; i++) receipts.push(await pub.publish('big', payload(24 * MiB), { ack: 'submission' }));
    expect(receipts[0]!.dropped).toBe(0);
    expect(receipts.slice(1).every((r) => r.dropped === 1)).toBe(true);
    ws.terminate();
  }, 60_000);
});

describe('persistent large messages', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'linden-frag-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('stored once, redelivered after a nack and after a restart, intact each time', async () => {
    await t.start({ maxFrameBytes: MiB, dataDir: dir });
    const pub = await t.client();
    await pub.createQueue('uploads', 'uploads.>');
    const data = payload(20 * MiB);
    const receipt = await pub.publish('uploads.a', data, { mode: 'persistent', ack: 'submission' });
    expect(receipt.queues).toEqual(['uploads']);

    const consumer = await t.client();
    const sub = consumer.subscribe<Buffer>('uploads.>', { durable: 'uploads' });
    const [first] = await take(sub, 1);
    expect(sha(first!.data)).toBe(sha(data));
    first!.nack();
    const [second] = await take(sub, 1);
    expect(second!.redelivered).toBe(true);
    expect(sha(second!.data)).toBe(sha(data));
    await t.cleanup();

    await t.start({ maxFrameBytes: MiB, dataDir: dir });
    const again = (await t.client()).subscribe<Buffer>('uploads.>', { durable: 'uploads' });
    const [third] = await take(again, 1);
    expect(sha(third!.data)).toBe(sha(data));
    third!.ack();
  }, 90_000);
});
