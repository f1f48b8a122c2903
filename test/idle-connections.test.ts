/**
 * Idle connections are cheap (issue 14: at most 8 KiB each, no per-connection timers). The
 * broker runs in a child process (test/helpers/measured-broker.mjs) and is weighed after full
 * collections; the clients are bare `ws` sockets in this process, so their memory is not in the
 * figure. bench/peers/idle-connections.ts measures the issue's own figure, resident memory at
 * 15,000 connections.
 */
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { MeasuredBroker, type Memory } from '../bench/measured-broker.js';
import { packr } from '../protocol/codec.js';
import { PROTOCOL_VERSION, SUBPROTOCOLS } from '../protocol/version.js';
import { requireBuilt } from './helpers/built.js';

const SCRIPT = fileURLToPath(new URL('./helpers/measured-broker.mjs', import.meta.url));
const BUILT = fileURLToPath(new URL('../dist/server/census.js', import.meta.url));

/**
 * Heap and array buffers per idle connection, compiled code aside, in bytes. Measured here:
 * 4,360 to 4,400 (a bare `ws` server that keeps its sockets in a Set: ~2,750); before issue 14's
 * changes, 9,330: a handshake timer per connection, an interceptor link of closures and a
 * dictionary of properties (~1.3 KB), six empty Maps and Sets (~1 KB), closures for the socket's
 * listeners. Runs differ by some 200 bytes; the bound leaves 1.1 KB above the measure, so
 * the link's 1.3 KB coming back fails it, as would the maps with the closures.
 */
const BOUND = 5.5 * 1024;
const COUNT = 2_000;
const HELLO = packr.pack([{ t: 'hello', id: 1, v: PROTOCOL_VERSION }]);

let broker: MeasuredBroker | undefined;
const sockets: WebSocket[] = [];

beforeAll(() => {
  requireBuilt(BUILT);
});

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await broker?.stop();
  broker = undefined;
});

/** Opens `count` connections, 100 at a time; with `hello`, each is answered its `welcome` before it counts. */
async function open(url: string, count: number, hello: boolean): Promise<WebSocket[]> {
  const opened: WebSocket[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      const ws = new WebSocket(url, [SUBPROTOCOLS.msgpack]);
      sockets.push(ws);
      await new Promise<void>((resolve, reject) => {
        ws.once('error', reject);
        ws.once('open', () => {
          if (!hello) return resolve();
          ws.once('message', () => resolve());
          ws.send(HELLO);
        });
      });
      opened.push(ws);
    }
  };
  await Promise.all(Array.from({ length: 100 }, worker));
  return opened;
}

const data = (m: Memory): number => m.heapUsed - m.code + m.arrayBuffers;

test(`${COUNT} idle connections take under ${BOUND / 1024} KiB of heap each and no timer`, async () => {
  broker = await MeasuredBroker.start(SCRIPT, { maxConnections: COUNT + 500, maxConnectionsPerAddress: COUNT + 500 });
  // A hundred first, so compiled code and the broker's own tables are in the baseline.
  await open(broker.url, 100, true);
  const baseline = await broker.measure();
  await open(broker.url, COUNT, true);
  const after = await broker.measure();
  const perConnection = (data(after) - data(baseline)) / COUNT;
  console.log(`${COUNT} idle connections: ${perConnection.toFixed(0)} bytes of heap and buffers each; timers ${baseline.timers} -> ${after.timers}`);
  expect(after.census.connections).toBe(COUNT + 100);
  expect(after.timers).toBeLessThanOrEqual(baseline.timers);
  expect(perConnection).toBeLessThan(BOUND);
}, 60_000);

test('connections waiting for their hello share one timer, and each is still closed at its deadline', async () => {
  const handshakeTimeoutMs = 4_000;
  broker = await MeasuredBroker.start(SCRIPT, { handshakeTimeoutMs, maxConnections: 1_000, maxConnectionsPerAddress: 1_000 }, ['all-timers']);
  const baseline = await broker.measure();
  const started = Date.now();
  const waiting = await open(broker.url, 500, false);
  const closes = waiting.map((ws) => new Promise<number>((resolve) => ws.once('close', (code) => resolve(code))));
  const during = await broker.measure();
  // The measure must have seen them all still waiting, or the count says nothing.
  expect(Date.now() - started).toBeLessThan(handshakeTimeoutMs);
  expect(during.census.connections).toBe(500);
  // Counted whether or not a timer keeps the process alive: one for all the deadlines.
  expect(during.allTimers! - baseline.allTimers!).toBeLessThanOrEqual(1);
  expect(new Set(await Promise.all(closes))).toEqual(new Set([4004]));
  expect(Date.now() - started).toBeGreaterThanOrEqual(handshakeTimeoutMs - 100);
  const after = await broker.measure();
  expect(after.census.connections).toBe(0);
  expect(after.allTimers).toBeLessThanOrEqual(baseline.allTimers!);
}, 60_000);
