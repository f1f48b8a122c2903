/**
 * Issue 13 "Slow consumers" (protocol.md §11 "Write deadline"): a connection whose output stays
 * over maxPendingBytes while its socket takes none of it for writeDeadlineMs is closed with 4007
 * SLOW_CONSUMER; meanwhile its transient deliveries are dropped, and at the close its durable
 * ones go to other consumers. The frozen client is a raw client whose socket is paused, so TCP
 * fills (test/output-stall.test.ts has what counts as progress). The rates and latencies printed are for reading, not asserted beyond generous ratios:
 * the 20% bound is bench/frozen-subscriber.ts's to measure (`npm run bench -- --only frozen`).
 */
import { flood, StreamPublisher, StreamSubscriber, type StreamFigures } from '../bench/streams.js';
import { CLOSE_CODES } from '../protocol/errors.js';
import { protocolSuite } from './helpers/protocol-suite.js';
import type { RawClient } from './helpers/raw-client.js';

const { t, raw } = protocolSuite();

const KiB = 1024;

interface ConnectionRow {
  id: string;
  pendingBytes: number;
  stalledMs: number;
  dropped: number;
}

async function api<T>(url: string, path: string): Promise<T> {
  const res = await fetch(url.replace(/^ws/, 'http') + path);
  return (path === '/metrics' ? res.text() : res.json()) as Promise<T>;
}

/** The admin view of connection `id`, or undefined once it is gone. */
async function viewOf(url: string, id: string): Promise<ConnectionRow | undefined> {
  return (await api<ConnectionRow[]>(url, '/api/connections')).find((c) => c.id === id);
}

async function connect(url: string): Promise<{ c: RawClient; id: string }> {
  const c = await raw.open(url, 'msgpack');
  const welcome = await c.hello();
  return { c, id: welcome.connectionId as string };
}

/** Watches connection `id` through the admin view until it is gone: the most it held, and whether it was seen stalled. */
function watch(url: string, id: string): { gone: () => boolean; most: () => number; stalledSeen: () => number; done: Promise<void> } {
  let gone = false;
  let most = 0;
  let stalled = 0;
  const done = (async () => {
    for (;;) {
      const view = await viewOf(url, id);
      if (!view) break;
      most = Math.max(most, view.pendingBytes);
      stalled = Math.max(stalled, view.stalledMs);
      await new Promise((resolve) => setTimeout(resolve, 20)); // a sample every 20 ms, not a busy loop in the broker's process
    }
    gone = true;
  })();
  return { gone: () => gone, most: () => most, stalledSeen: () => stalled, done };
}

function show(label: string, f: StreamFigures): string {
  return `${label}: ${f.deliveriesPerSecond} deliveries/s, p50 ${f.p50Ms} ms, p99 ${f.p99Ms} ms, ${f.dropped} dropped`;
}

test('one frozen subscriber among three that read: closed with 4007 after writeDeadlineMs, the others get every message, the broker holds at most its budget and one message for it', async () => {
  const maxPendingBytes = 256 * KiB;
  const size = 16 * KiB;
  const writeDeadlineMs = 300;
  const broker = await t.start({ maxPendingBytes, writeDeadlineMs });
  const publisher = await StreamPublisher.open(broker.url, 'publisher', 'feed', size);
  const subs = await Promise.all([0, 1, 2].map((i) => StreamSubscriber.open(broker.url, `reader-${i}`, 'feed')));
  // 8 messages of 16 KiB ahead at most: 128 KiB, under the readers' budget, so none is dropped for them.
  const pace = { frameMessages: 4, window: 8 };
  try {
    await flood(publisher, subs, 300, pace); // warm-up
    const without = await flood(publisher, subs, 1_500, pace);

    const { c: frozen, id } = await connect(broker.url);
    expect(await frozen.call({ t: 'sub', id: frozen.id(), sid: 1, pattern: 'feed' })).toMatchObject({ t: 'ok' });
    frozen.ws.pause();
    const watched = watch(broker.url, id);
    // On until the broker has let the frozen one go: TCP buffers first, then the budget, then the deadline.
    const withFrozen = await flood(publisher, subs, 1_500, pace, () => !watched.gone());
    await watched.done;

    console.log([
      `frozen subscriber, 3 readers, ${size / KiB} KiB messages, maxPendingBytes ${maxPendingBytes / KiB} KiB, writeDeadlineMs ${writeDeadlineMs}:`,
      show('  without it', without),
      show('  with it   ', withFrozen),
      `  rate x${(withFrozen.deliveriesPerSecond / without.deliveriesPerSecond).toFixed(2)}, p99 x${(withFrozen.p99Ms / without.p99Ms).toFixed(2)}; ` +
        `the broker held at most ${watched.most()} bytes for the frozen one, seen stalled for ${watched.stalledSeen()} ms`,
    ].join('\n'));

    // The readers lost nothing (flood() waits for every message at every reader) and were not held up for long.
    expect(without.dropped).toBe(0);
    expect(withFrozen.dropped).toBe(0);
    expect(withFrozen.deliveriesPerSecond).toBeGreaterThan(without.deliveriesPerSecond / 4);
    expect(withFrozen.p99Ms).toBeLessThan(5 * without.p99Ms + 200);
    // Bounded: over the budget by the one message admitted under it, and stalled before it went.
    expect(watched.most()).toBeGreaterThan(maxPendingBytes);
    expect(watched.most()).toBeLessThanOrEqual(maxPendingBytes + size + KiB);
    expect(watched.stalledSeen()).toBeGreaterThan(0);

    // Reading again, it gets what was queued, then the close and why.
    frozen.ws.resume();
    expect(await frozen.closed).toEqual({ code: CLOSE_CODES.SLOW_CONSUMER.code, reason: expect.stringMatching(/^slow consumer: \d+ bytes unsent, none taken for \d+ ms$/) });
    const metrics = await api<string>(broker.url, '/metrics');
    expect(metrics).toMatch(/^linden_slow_consumers_closed_total\{cause="stalled"\} 1$/m);
  } finally {
    publisher.close();
    for (const s of subs) s.close();
  }
}, 30_000);

test('durable deliveries held by a frozen consumer go to the one that reads when the write deadline closes it', async () => {
  const broker = await t.start({ maxPendingBytes: 64 * KiB, writeDeadlineMs: 300 });
  const { c: frozen } = await connect(broker.url);
  const { c: reader } = await connect(broker.url);
  const { c: publisher } = await connect(broker.url);
  for (const c of [frozen, reader]) {
    expect(await c.call({ t: 'sub', id: c.id(), sid: 1, pattern: 'job.*', durable: 'jobs' })).toMatchObject({ t: 'ok' });
  }
  frozen.ws.pause();

  const total = 200;
  const size = 64 * KiB; // what goes to the frozen consumer fills loopback TCP buffers and its budget
  const received = new Map<string, number>();
  const consumed = (async () => {
    while (received.size < total) {
      const msg = await reader.next((m) => m.t === 'msg' && !received.has(m.mid as string), 20_000);
      received.set(msg.mid as string, msg.dc as number);
      reader.send({ t: 'ack', tag: msg.tag });
    }
  })();
  for (let i = 0; i < total; i += 10) {
    const ids = Array.from({ length: 10 }, () => publisher.id());
    publisher.send(ids.map((id, j) => ({ t: 'pub', id, topic: 'job.x', mode: 'persistent', ack: 'submission', data: publisher.data(`${i + j} `.padEnd(size, 'x')) })));
    for (const id of ids) expect(await publisher.reply(id)).toMatchObject({ t: 'receipt' });
  }
  await consumed;
  // Some of them had gone to the frozen consumer first: the reader got them as second deliveries.
  expect([...received.values()].filter((dc) => dc > 1).length).toBeGreaterThan(0);
  frozen.ws.resume();
  expect((await frozen.closed).code).toBe(CLOSE_CODES.SLOW_CONSUMER.code);
}, 30_000);
