import WebSocket from 'ws';
import { packr } from '../protocol/codec.js';
import { SUBPROTOCOLS } from '../protocol/version.js';
import { fileURLToPath } from 'node:url';
import { MeasuredBroker } from '../bench/measured-broker.js';

const MEASURED_BROKER = fileURLToPath(new URL('./helpers/measured-broker.mjs', import.meta.url));
import { take, testBroker, until } from './helpers/setup.js';

const t = testBroker();
afterEach(() => t.cleanup());

test('a client that publishes but does not read is paused, not buffered without end, and loses nothing', async () => {
  const broker = await t.start({ maxPendingBytes: 64 * 1024 });
  const ws = new WebSocket(broker.url, [SUBPROTOCOLS.msgpack]);
  let receipts = 0;
  let welcomed!: () => void;
  const welcome = new Promise<void>((resolve) => { welcomed = resolve; });
  ws.on('message', (data: Buffer) => {
    for (const m of packr.unpack(data) as { t: string }[]) {
      if (m.t === 'receipt') receipts++;
      else if (m.t === 'welcome') welcomed();
    }
  });
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(packr.pack({ t: 'hello', id: 0, v: 1 }));
  await welcome;
  ws.pause(); // stop reading: receipts pile up towards the broker

  const total = 200_000;
  const data = packr.pack('x');
  for (let i = 0; i < total; i += 1_000) {
    const batch = [];
    for (let j = i; j < i + 1_000; j++) batch.push({ t: 'pub', id: j + 1, topic: 'bp.x', data, ack: 'submission' });
    ws.send(packr.pack(batch));
  }
  // The broker stopped reading from us, so our own sends back up here instead of there.
  await until(() => ws.bufferedAmount > 1_000_000, 20_000);

  // Meanwhile other clients are served.
  const other = await t.client();
  const sub = other.subscribe('other.x');
  await sub.ready;
  await other.publish('other.x', 'still here');
  expect((await take(sub, 1))[0]!.data).toBe('still here');

  ws.resume();
  await until(() => receipts === total, 30_000);
  ws.close();
}, 60_000);

test('a publisher that outruns the broker (ack none, to a subscriber that reads nothing) waits on TCP while the broker works through its frames; the broker\'s memory stays flat', async () => {
  const MiB = 1024 * 1024;
  const broker = await MeasuredBroker.start(MEASURED_BROKER, { maxPendingBytes: MiB, writeDeadlineMs: 600_000 });
  const url = broker.url;
  const sockets: WebSocket[] = [];
  try {
    const open = async (): Promise<WebSocket> => {
      const ws = new WebSocket(url, [SUBPROTOCOLS.msgpack]);
      sockets.push(ws);
      await new Promise((resolve) => ws.once('open', resolve));
      return ws;
    };
    const call = (ws: WebSocket, message: object): Promise<void> => new Promise((resolve) => {
      ws.once('message', () => resolve());
      ws.send(packr.pack(message));
    });
    const publisher = await open();
    await call(publisher, { t: 'hello', id: 0, v: 1, name: 'flooder' });
    const frozen = await open();
    await call(frozen, { t: 'hello', id: 0, v: 1 });
    await call(frozen, { t: 'sub', id: 1, sid: 1, pattern: 'flood.x' });
    frozen.pause();
    const baseline = await broker.measure();

    // 128 MiB in frames of 32 messages of 16 KiB, all handed to the publisher's socket at once.
    // What the broker has not handled yet must wait there (TCP), not in the broker's memory.
    const size = 16 * 1024;
    const total = 128 * MiB;
    const frame = packr.pack(Array.from({ length: 32 }, () => ({ t: 'pub', topic: 'flood.x', data: new Uint8Array(size) })));
    for (let sent = 0; sent < total; sent += 32 * size) publisher.send(frame);
    const handled = async (): Promise<number> => {
      const list = (await (await fetch(url.replace(/^ws/, 'http') + '/api/connections')).json()) as { name: string; messagesIn: number }[];
      return list.find((c) => c.name === 'flooder')!.messagesIn * size;
    };
    const held = (m: { heapUsed: number; arrayBuffers: number }): number => m.heapUsed + m.arrayBuffers;
    let most = 0;
    let mostWaiting = 0;
    for (let done = await handled(); done < total; done = await handled()) {
      mostWaiting = Math.max(mostWaiting, total - done);
      most = Math.max(most, held(await broker.measure()));
    }
    console.log(`publisher flood of 128 MiB: broker heap + buffers ${(held(baseline) / MiB).toFixed(1)} MiB before, at most ${(most / MiB).toFixed(1)} MiB meanwhile, while up to ${(mostWaiting / MiB).toFixed(1)} MiB of it waited unhandled outside the broker`);
    expect(mostWaiting).toBeGreaterThan(64 * MiB);
    expect(most - held(baseline)).toBeLessThan(32 * MiB);
  } finally {
    for (const ws of sockets) ws.terminate();
    await broker.stop();
  }
}, 60_000);
