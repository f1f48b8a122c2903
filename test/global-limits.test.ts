/**
 * Broker-wide limits (issue 13): connections in all and per remote address, subscriptions and
 * waiters of all connections, bytes of the tuples of all spaces. Each at its boundary: the limit
 * is accepted, one more gets its close code or typed error, nothing accepted is lost, and every
 * way of letting go (unsubscribe, queue deleted, take, settle, timeout, abort, unnotify, lease
 * expiry, connection closed) makes room again. Limits are tiny so the tests are fast.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, LindenError } from '../client-sdk/index.js';
import { packr } from '../protocol/codec.js';
import type { Broker } from '../server/index.js';
import { rawClients, type RawClient, type Received } from './helpers/raw-client.js';
import { testBroker } from './helpers/setup.js';

const t = testBroker();
const raw = rawClients();
afterEach(async () => {
  await raw.closeAll();
  await t.cleanup();
});

/** The broker's own count of open connections (its /metrics), which drops once it has released one. */
async function openConnections(broker: Broker): Promise<number> {
  const text = await (await fetch(`${broker.url.replace(/^ws/, 'http')}/metrics`)).text();
  return Number(/^linden_connections (\d+)$/m.exec(text)![1]);
}

async function eventually(check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Closes `c` and waits until the broker has let go of it. */
async function leave(broker: Broker, c: RawClient): Promise<void> {
  const before = await openConnections(broker);
  await c.close();
  await eventually(async () => (await openConnections(broker)) < before);
}

function refused(reply: Received, code: string, limit: string): void {
  expect({ t: reply.t, code: reply.code, limit: reply.details?.limit }).toEqual({ t: 'err', code, limit });
  expect(reply.message).toContain(limit);
}

describe('connections', () => {
  test('maxConnections: the limit connects; one more is closed with 4009 naming the limit, which the SDK reports as CONNECTION_REFUSED; a close makes room', async () => {
    const broker = await t.start({ maxConnections: 3, maxConnectionsPerAddress: 100 });
    const clients = [await t.client(), await t.client(), await t.client()];

    const err = await connect(broker.url, { reconnect: false }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(LindenError);
    expect(err).toMatchObject({ code: 'CONNECTION_REFUSED', details: { code: 4009 } });
    expect((err as LindenError).message).toContain('broker full: 3 connections (maxConnections)');
    const c = await raw.open(broker.url, 'msgpack');
    expect(await c.closed).toEqual({ code: 4009, reason: 'broker full: 3 connections (maxConnections); try again later' });

    // The accepted ones are untouched.
    for (const client of clients) await client.flush();
    await clients[0]!.close();
    await eventually(async () => (await openConnections(broker)) === 2);
    await (await t.client()).flush();
    // Counted for monitoring (README "What to monitor").
    const metrics = await (await fetch(broker.url.replace(/^ws/, 'http') + '/metrics')).text();
    expect(metrics).toContain('linden_connections_refused_total{limit="maxConnections"} 2');
  });

  test('maxConnectionsPerAddress: one address gets the limit, the next from it is closed with 4009; another address still connects', async () => {
    const broker = await t.start({ maxConnections: 100, maxConnectionsPerAddress: 2 });
    const first = await raw.connect(broker.url, 'msgpack');
    const second = await raw.connect(broker.url, 'json');
    const third = await raw.open(broker.url, 'msgpack');
    expect(await third.closed).toEqual({ code: 4009, reason: '2 connections from 127.0.0.1 already (maxConnectionsPerAddress); try again later' });
    // All of 127.0.0.0/8 is loopback on Linux: the same broker, another client address.
    const elsewhere = await raw.open(broker.url, 'msgpack', { localAddress: '127.0.0.2' });
    await elsewhere.hello();
    await first.sync();
    await second.sync();

    await leave(broker, first);
    await (await raw.connect(broker.url, 'msgpack')).sync();
    expect(await openConnections(broker)).toBe(3);
    const metrics = await (await fetch(broker.url.replace(/^ws/, 'http') + '/metrics')).text();
    expect(metrics).toContain('linden_connections_refused_total{limit="maxConnectionsPerAddress"} 1');
  });
});

describe('subscriptions', () => {
  test('maxSubscriptionsTotal across connections: the limit is taken, one more is TOO_MANY_SUBSCRIPTIONS; unsubscribe, queue deletion and close make room', async () => {
    const broker = await t.start({ maxSubscriptionsTotal: 3 });
    const a = await raw.connect(broker.url, 'msgpack');
    const b = await raw.connect(broker.url, 'msgpack');
    expect(await a.call({ t: 'sub', id: 1, sid: 1, pattern: 'g.>' })).toEqual({ t: 'ok', re: 1 });
    expect(await a.call({ t: 'sub', id: 2, sid: 2, pattern: 'g.x' })).toEqual({ t: 'ok', re: 2 });
    expect(await b.call({ t: 'sub', id: 3, sid: 1, pattern: 'g.*', durable: 'q' })).toEqual({ t: 'ok', re: 3 });
    const over = await b.call({ t: 'sub', id: 4, sid: 2, pattern: 'g.x' });
    refused(over, 'TOO_MANY_SUBSCRIPTIONS', 'maxSubscriptionsTotal');
    expect(over.message).toBe('the broker holds 3 subscriptions, its limit for all connections together (maxSubscriptionsTotal)');

    // Every accepted subscription still delivers; the refused one does not exist.
    expect(await b.call({ t: 'pub', id: 5, topic: 'g.x', data: b.data('hi'), mode: 'persistent', ack: 'submission' })).toMatchObject({ t: 'receipt' });
    expect((await Promise.all([a.next((m) => m.t === 'msg' && m.sid === 1), a.next((m) => m.t === 'msg' && m.sid === 2)])).length).toBe(2);
    expect(await b.next((m) => m.t === 'msg')).toMatchObject({ sid: 1, topic: 'g.x' });
    await b.sync();
    expect(b.unread()).toEqual([]);

    // unsub
    expect(await a.call({ t: 'unsub', id: 6, sid: 2 })).toEqual({ t: 'ok', re: 6 });
    expect(await b.call({ t: 'sub', id: 7, sid: 2, pattern: 'g.x' })).toEqual({ t: 'ok', re: 7 });
    refused(await b.call({ t: 'sub', id: 8, sid: 3, pattern: 'g.y' }), 'TOO_MANY_SUBSCRIPTIONS', 'maxSubscriptionsTotal');
    // the queue of a durable subscription deleted: its consumers' subscriptions end
    expect(await a.call({ t: 'qdelete', id: 9, name: 'q' })).toEqual({ t: 'ok', re: 9 });
    expect(await b.call({ t: 'sub', id: 10, sid: 3, pattern: 'g.y' })).toEqual({ t: 'ok', re: 10 });
    refused(await b.call({ t: 'sub', id: 11, sid: 4, pattern: 'g.z' }), 'TOO_MANY_SUBSCRIPTIONS', 'maxSubscriptionsTotal');
    // a closed connection
    await leave(broker, a);
    expect(await b.call({ t: 'sub', id: 12, sid: 4, pattern: 'g.z' })).toEqual({ t: 'ok', re: 12 });
  });

  test('the per-connection limit says so, and comes first', async () => {
    const broker = await t.start({ maxSubscriptions: 1, maxSubscriptionsTotal: 1 });
    const a = await raw.connect(broker.url, 'msgpack');
    expect(await a.call({ t: 'sub', id: 1, sid: 1, pattern: 'p' })).toEqual({ t: 'ok', re: 1 });
    refused(await a.call({ t: 'sub', id: 2, sid: 2, pattern: 'q' }), 'TOO_MANY_SUBSCRIPTIONS', 'maxSubscriptions');
  });
});

describe('waiters', () => {
  test('maxWaitersTotal across connections: blocked in/rd plus notify up to the limit, one more is TOO_MANY_WAITERS; take, timeout, unnotify, close and abort make room', async () => {
    const broker = await t.start({ maxWaitersTotal: 3 });
    const a = await raw.connect(broker.url, 'msgpack');
    const b = await raw.connect(broker.url, 'msgpack');
    a.send({ t: 'in', id: 1, space: 's', template: ['job', { $type: 'number' }] });
    // Long enough to outlast the checks below on a busy machine; the test waits for it later.
    a.send({ t: 'rd', id: 2, space: 's', template: ['tick'], timeout: 1_500 });
    expect(await b.call({ t: 'notify', id: 3, nid: 1, space: 's', template: ['job', { $type: 'number' }] })).toEqual({ t: 'ok', re: 3 });
    const over = await b.call({ t: 'in', id: 4, space: 's', template: ['x'] });
    refused(over, 'TOO_MANY_WAITERS', 'maxWaitersTotal');
    // A read that does not wait is no waiter.
    expect(await b.call({ t: 'rd', id: 5, space: 's', template: ['x'], wait: false })).toEqual({ t: 'tuple', re: 5, tuple: null });

    const full = async (c: RawClient, id: number) => refused(await c.call({ t: 'in', id, space: 's', template: ['full'] }), 'TOO_MANY_WAITERS', 'maxWaitersTotal');
    // taken: a's `in` gets the tuple, b's notify the event
    expect(await b.call({ t: 'out', id: 6, space: 's', tuple: ['job', 7], ack: 'submission' })).toMatchObject({ t: 'lease' });
    expect(await a.reply(1)).toMatchObject({ t: 'tuple', tuple: ['job', 7] });
    expect(await b.next((m) => m.t === 'event')).toMatchObject({ nid: 1, type: 'out', tuple: ['job', 7] });
    b.send({ t: 'in', id: 7, space: 's', template: ['x'] });
    await full(b, 8);
    // timed out
    expect(await a.reply(2, 5_000)).toEqual({ t: 'tuple', re: 2, tuple: null });
    b.send({ t: 'in', id: 9, space: 's', template: ['y'] });
    await full(a, 10);
    // unnotify
    expect(await b.call({ t: 'unnotify', id: 11, nid: 1 })).toEqual({ t: 'ok', re: 11 });
    a.send({ t: 'in', id: 12, space: 's', template: ['z'] });
    await full(b, 13);
    // closed
    await leave(broker, a);
    b.send({ t: 'in', id: 14, space: 's', template: ['w'] });
    await full(b, 15);
    // aborted
    expect(await b.call({ t: 'abort', id: 16, target: 7 })).toEqual({ t: 'ok', re: 16 });
    expect(await b.reply(7)).toEqual({ t: 'tuple', re: 7, tuple: null, aborted: true });
    b.send({ t: 'in', id: 17, space: 's', template: ['v'] });
    await full(b, 18);

    // What waits is all still served.
    for (const [value, id] of [['x', 7], ['y', 9], ['w', 14], ['v', 17]] as const) {
      await b.call({ t: 'out', id: 100 + id, space: 's', tuple: [value], ack: 'submission' });
      if (id !== 7) expect(await b.reply(id)).toMatchObject({ t: 'tuple', tuple: [value] });
    }
  });
});

describe('bytes of all spaces', () => {
  const payload = 'x'.repeat(100);
  const tuple = (n: number): unknown[] => ['blob', n, payload]; // n < 10: every one the same size
  const SIZE = packr.pack(tuple(0)).length;

  test('maxSpaceBytesTotal across spaces: tuples up to the limit are written, one more byte is SPACE_FULL; reserved tuples count; take, settle, expiry make room', async () => {
    const broker = await t.start({ maxSpaceBytesTotal: 3 * SIZE });
    const c = await raw.connect(broker.url, 'msgpack');
    const out = (id: number, space: string, values: unknown[], extra: object = {}) => c.call({ t: 'out', id, space, tuple: values, ack: 'submission', ...extra });
    expect(await c.call({ t: 'notify', id: 20, nid: 1, space: 'b', template: ['blob', 3, payload], events: ['expire'] })).toEqual({ t: 'ok', re: 20 });
    expect(await out(1, 'a', tuple(1))).toMatchObject({ t: 'lease' });
    expect(await out(2, 'a', tuple(2))).toMatchObject({ t: 'lease' });
    expect(await out(3, 'b', tuple(3), { ttl: 1_000 })).toMatchObject({ t: 'lease' });
    const over = await out(4, 'b', ['s']);
    refused(over, 'SPACE_FULL', 'maxSpaceBytesTotal');
    expect(over.details).toEqual({ space: 'b', limit: 'maxSpaceBytesTotal' });
    // Nothing accepted is lost.
    expect((await c.call({ t: 'rd', id: 5, space: 'a', template: ['blob', { $any: true }, payload], limit: 10 })).items).toHaveLength(2);

    // The lease of b's tuple ends: room for one more, which an expiry event announces.
    await c.next((m) => m.t === 'event' && m.type === 'expire', 5_000);
    expect(await out(7, 'b', tuple(4))).toMatchObject({ t: 'lease' });
    refused(await out(8, 'c', tuple(5)), 'SPACE_FULL', 'maxSpaceBytesTotal');

    // Reserved: still held. Settled: gone.
    const reserved = await c.call({ t: 'in', id: 9, space: 'a', template: ['blob', 1, payload], reserve: 10_000 });
    expect(reserved).toMatchObject({ t: 'tuple', tuple: tuple(1), rid: expect.any(String) });
    refused(await out(10, 'c', tuple(5)), 'SPACE_FULL', 'maxSpaceBytesTotal');
    expect(await c.call({ t: 'settle', id: 11, rid: reserved.rid, ok: true })).toEqual({ t: 'ok', re: 11 });
    expect(await out(12, 'c', tuple(5))).toMatchObject({ t: 'lease' });

    // Taken.
    expect(await c.call({ t: 'in', id: 13, space: 'a', template: ['blob', 2, payload] })).toMatchObject({ tuple: tuple(2) });
    // A batch is judged by all its outs before it runs, and one that fails gives its bytes back.
    refused(await c.call({ t: 'batch', id: 14, space: 'c', steps: [{ op: 'out', tuple: tuple(6) }, { op: 'out', tuple: tuple(7) }] }), 'SPACE_FULL', 'maxSpaceBytesTotal');
    expect(await c.call({ t: 'batch', id: 15, space: 'c', steps: [{ op: 'out', tuple: tuple(6) }, { op: 'inp', template: ['none'] }] })).toMatchObject({ t: 'err', code: 'BATCH_FAILED' });
    expect(await c.call({ t: 'batch', id: 16, space: 'c', steps: [{ op: 'out', tuple: tuple(6) }] })).toMatchObject({ t: 'batched' });
    refused(await out(17, 'd', ['s']), 'SPACE_FULL', 'maxSpaceBytesTotal');
  });

  test('tuples recovered from the store count too', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'linden-limits-'));
    try {
      const first = await t.start({ dataDir, maxSpaceBytesTotal: 2 * SIZE });
      const c = await raw.connect(first.url, 'msgpack');
      for (const n of [1, 2]) expect(await c.call({ t: 'out', id: n, space: 'kept', tuple: tuple(n), persistent: true, ack: 'submission' })).toMatchObject({ t: 'lease' });
      await raw.closeAll();
      await t.cleanup();

      const second = await t.start({ dataDir, maxSpaceBytesTotal: 2 * SIZE });
      const d = await raw.connect(second.url, 'msgpack');
      refused(await d.call({ t: 'out', id: 1, space: 'other', tuple: ['s'], ack: 'submission' }), 'SPACE_FULL', 'maxSpaceBytesTotal');
      expect(await d.call({ t: 'in', id: 2, space: 'kept', template: ['blob', 1, payload] })).toMatchObject({ tuple: tuple(1) });
      expect(await d.call({ t: 'out', id: 3, space: 'other', tuple: tuple(3), ack: 'submission' })).toMatchObject({ t: 'lease' });
    } finally {
      await raw.closeAll();
      await t.cleanup();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
