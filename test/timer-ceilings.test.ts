/**
 * No value a client or an operator gives reaches a timer at 2^31 ms or more, where Node fires it
 * after 1 ms instead (a consumer that never acked got one message 1,000 times in 3 s). Every
 * duration has a ceiling below it (protocol/limits.ts, protocol.md §4.6): beyond it a frame is
 * INVALID_FRAME and a broker option INVALID_OPTIONS; at it, the timer gets it whole.
 *
 * The broker runs in this process, so wrapping setTimeout and setInterval here sees every delay
 * it asks for.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LindenError } from '../protocol/errors.js';
import { fragmentation } from '../protocol/fragmentation.js';
import { MAX_DURATION_MS } from '../protocol/limits.js';
import type { CodecName } from '../protocol/version.js';
import { resolveOptions, type BrokerOptions } from '../server/options.js';
import { putQueue, QUEUE_DEFAULTS } from '../server/pubsub/durable/queue-records.js';
import { LmdbStore } from '../server/store/lmdb-store.js';
import { rawClients, type RawClient } from './helpers/raw-client.js';
import { testBroker } from './helpers/setup.js';

const OVERFLOW = 2 ** 31;
const t = testBroker();
const raw = rawClients();

const delays: number[] = [];
const real = { setTimeout: globalThis.setTimeout, setInterval: globalThis.setInterval };
beforeAll(() => {
  const record = <F extends (fn: () => void, ms?: number) => unknown>(timer: F): F =>
    ((fn: () => void, ms?: number, ...rest: unknown[]) => {
      if (typeof ms === 'number') delays.push(ms);
      return (timer as (...a: unknown[]) => unknown)(fn, ms, ...rest);
    }) as F;
  globalThis.setTimeout = record(real.setTimeout) as typeof setTimeout;
  globalThis.setInterval = record(real.setInterval) as typeof setInterval;
});
afterAll(() => {
  globalThis.setTimeout = real.setTimeout;
  globalThis.setInterval = real.setInterval;
});
afterEach(async () => {
  await raw.closeAll();
  await t.cleanup();
});

const CODECS: CodecName[] = ['json', 'msgpack'];

/** The `err` a message without `id` causes, if any, before a ping's pong. */
async function errorOf(c: RawClient, message: object): Promise<unknown> {
  c.send(message);
  await c.sync();
  const err = c.poll((m) => m.t === 'err');
  return err && { code: err.code, field: err.details?.field };
}

describe.each(CODECS)('%s codec', (codec) => {
  test('a duration of 2^31 ms or more is INVALID_FRAME, not a timer of 1 ms', async () => {
    const broker = await t.start();
    const c = await raw.connect(broker.url, codec);
    const invalid = (field: string): Record<string, unknown> => ({ t: 'err', code: 'INVALID_FRAME', details: { field } });
    const start = delays.length;

    expect(await c.call({ t: 'qcreate', id: 1, name: 'q', pattern: 'q.>', ackWait: OVERFLOW })).toMatchObject(invalid('ackWait'));
    expect(await c.call({ t: 'sub', id: 2, sid: 1, pattern: 'q.>', durable: 'q', ackWait: OVERFLOW })).toMatchObject(invalid('ackWait'));
    expect(await c.call({ t: 'pub', id: 3, topic: 'q.a', data: c.data(1), mode: 'persistent', ttl: 2 ** 53 + 2, ack: 'submission' })).toMatchObject(invalid('ttl'));
    expect(await c.call({ t: 'pub', id: 4, topic: 'q.a', data: c.data(1), ack: 'delivery', timeout: OVERFLOW })).toMatchObject(invalid('timeout'));
    expect(await c.call({ t: 'out', id: 5, space: 's', tuple: [1], ttl: OVERFLOW, ack: 'submission' })).toMatchObject(invalid('ttl'));
    expect(await c.call({ t: 'in', id: 6, space: 's', template: [2], timeout: OVERFLOW })).toMatchObject(invalid('timeout'));
    expect(await c.call({ t: 'renew', id: 7, space: 's', tid: 'x', ttl: OVERFLOW })).toMatchObject(invalid('ttl'));

    // A consumer that never acks, and a nack asking for a delay beyond the ceiling.
    expect(await c.call({ t: 'sub', id: 8, sid: 2, pattern: 'q.>', durable: 'q' })).toMatchObject({ t: 'ok' });
    expect(await c.call({ t: 'pub', id: 9, topic: 'q.a', data: c.data(1), mode: 'persistent', ack: 'submission' })).toMatchObject({ t: 'receipt' });
    const msg = await c.next((m) => m.t === 'msg');
    expect(msg.dc).toBe(1);
    expect(await errorOf(c, { t: 'nack', tag: msg.tag, delay: OVERFLOW })).toEqual({ code: 'INVALID_FRAME', field: 'delay' });
    expect(await errorOf(c, { t: 'nack', tag: msg.tag, delay: 2 ** 53 + 2 })).toEqual({ code: 'INVALID_FRAME', field: 'delay' });
    expect(c.poll((m) => m.t === 'msg')).toBeUndefined();
    expect(delays.slice(start).filter((ms) => ms >= OVERFLOW)).toEqual([]);
  });

  test('every duration at its ceiling reaches its timer whole, below 2^31 ms', async () => {
    const options: BrokerOptions = {
      maxTimeoutMs: MAX_DURATION_MS, receiptTimeoutMs: MAX_DURATION_MS, maxLeaseMs: MAX_DURATION_MS,
      heartbeatMs: MAX_DURATION_MS, handshakeTimeoutMs: MAX_DURATION_MS, dedupeWindowMs: MAX_DURATION_MS, writeDeadlineMs: MAX_DURATION_MS,
    };
    const start = delays.length;
    const broker = await t.start(options);
    const c = await raw.connect(broker.url, codec);
    const max = MAX_DURATION_MS;

    // Durable: ackWait, a persistent ttl, a receipt timeout, a nack delay.
    expect(await c.call({ t: 'qcreate', id: 1, name: 'q', pattern: 'q.>', ackWait: max })).toMatchObject({ t: 'ok' });
    expect(await c.call({ t: 'sub', id: 2, sid: 1, pattern: 'q.>', durable: 'q', ackWait: max })).toMatchObject({ t: 'ok' });
    c.send({ t: 'pub', id: 3, topic: 'q.a', data: c.data(1), mode: 'persistent', ttl: max, ack: 'processing', timeout: max });
    const msg = await c.next((m) => m.t === 'msg');
    expect(await errorOf(c, { t: 'nack', tag: msg.tag, delay: max })).toBeUndefined();
    // Transient: a delivery receipt nobody answers.
    expect(await c.call({ t: 'sub', id: 4, sid: 2, pattern: 't.>' })).toMatchObject({ t: 'ok' });
    c.send({ t: 'pub', id: 5, topic: 't.a', data: c.data(1), ack: 'delivery', timeout: max });
    await c.next((m) => m.t === 'msg' && m.sid === 2);
    // Spaces: a lease, an out waiting for processing, a reservation, a blocked in, a renewal.
    c.send({ t: 'out', id: 6, space: 's', tuple: ['a'], ttl: max, ack: 'processing', timeout: max });
    const taken = await c.call({ t: 'in', id: 7, space: 's', template: ['a'], reserve: max });
    expect(taken).toMatchObject({ t: 'tuple', tuple: ['a'], rid: expect.any(String) });
    c.send({ t: 'in', id: 8, space: 's', template: ['never'], timeout: max });
    const lease = await c.call({ t: 'out', id: 9, space: 's', tuple: ['b'], ack: 'submission' });
    expect(await c.call({ t: 'renew', id: 10, space: 's', tid: lease.tid, ttl: max })).toMatchObject({ t: 'lease', ttl: max, shortened: false });
    await c.sync();

    const asked = delays.slice(start);
    expect(asked.filter((ms) => ms >= OVERFLOW)).toEqual([]);
    // ackWait, the receipt timeouts, the out's wait, the reservation, the blocked in, the heartbeat,
    // the handshake. The two receipts share the broker's one receipt timer (a LeaseHeap on a
    // monotonic clock, issue 14), which is armed once, with what is left of the first deadline:
    // a fraction of a millisecond under max (so are those of heaps on Date.now across a tick).
    expect(asked.filter((ms) => ms === max).length).toBeGreaterThanOrEqual(5);
    expect(asked.filter((ms) => ms <= max && ms > max - 1_000).length).toBeGreaterThanOrEqual(7);
  });
});

test('broker options in ms are INVALID_OPTIONS beyond the ceiling, accepted at it', () => {
  const names = ['heartbeatMs', 'handshakeTimeoutMs', 'receiptTimeoutMs', 'maxTimeoutMs', 'maxLeaseMs', 'dedupeWindowMs', 'writeDeadlineMs'] as const;
  for (const name of names) {
    expect(resolveOptions({ [name]: MAX_DURATION_MS })[name]).toBe(MAX_DURATION_MS);
    for (const ms of [MAX_DURATION_MS + 1, OVERFLOW, 2 ** 53 + 2]) {
      let caught: unknown;
      try {
        resolveOptions({ [name]: ms });
      } catch (err) {
        caught = err;
      }
      expect({ name, ms, error: caught instanceof LindenError ? caught.code : caught }).toEqual({ name, ms, error: 'INVALID_OPTIONS' });
    }
  }
  expect(() => fragmentation({ assemblyTimeoutMs: OVERFLOW })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
  expect(() => fragmentation({ assemblyTimeoutMs: MAX_DURATION_MS })).not.toThrow();
});

test('a queue stored by an older broker with an ackWait of 2^31 ms is recovered within the ceiling', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'linden-timers-'));
  try {
    const store = await LmdbStore.open(dataDir);
    await store.write([putQueue({ name: 'old', pattern: 'old.>', config: { ...QUEUE_DEFAULTS, ackWait: OVERFLOW }, createdAt: Date.now() })]);
    await store.close();
    const broker = await t.start({ dataDir });
    const c = await raw.connect(broker.url, 'msgpack');
    const start = delays.length;
    expect(await c.call({ t: 'sub', id: 1, sid: 1, pattern: 'old.>', durable: 'old' })).toMatchObject({ t: 'ok' });
    expect(await c.call({ t: 'pub', id: 2, topic: 'old.a', data: c.data(1), mode: 'persistent', ack: 'submission' })).toMatchObject({ t: 'receipt' });
    expect((await c.next((m) => m.t === 'msg')).dc).toBe(1);
    expect(delays.slice(start).filter((ms) => ms >= OVERFLOW)).toEqual([]);
    expect(delays.slice(start)).toContain(MAX_DURATION_MS);
  } finally {
    await raw.closeAll();
    await t.cleanup();
    await rm(dataDir, { recursive: true, force: true });
  }
});
