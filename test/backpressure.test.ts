import WebSocket from 'ws';
import { packr } from '../protocol/codec.js';
import { SUBPROTOCOLS } from '../protocol/version.js';
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
