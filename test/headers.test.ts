/**
 * Message and tuple headers (`hdr`, protocol.md §3.5): carried opaquely from `pub` to every
 * `msg` (transient and persistent, across redelivery and restarts) and from `out` to wherever
 * the tuple is returned (`tuple`, `tuples`, `event`, `batched`), in both codecs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client, Message, TupleEvent } from '../client-sdk/index.js';
import type { CodecName } from '../protocol/version.js';
import { rawClients } from './helpers/raw-client.js';
import { take, testBroker } from './helpers/setup.js';
import { sharedTestBroker } from './helpers/shared-brokers.js';

// One broker per set of options for the file, each test on names of its own; the tests of stores
// and restarts have a broker of their own.
const t = sharedTestBroker();
const own = testBroker();
const raw = rawClients();
let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'linden-headers-'));
});
afterEach(async () => {
  await raw.closeAll();
  await own.cleanup();
  await t.cleanup();
  await rm(dataDir, { recursive: true, force: true });
});

const any = { $any: true };
const hdr = { 'x-tenant': 'acme', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'x-ünï': 'välue' };
const codecs: CodecName[] = ['msgpack', 'json'];

describe('pub/sub', () => {
  for (const publisherCodec of codecs) {
    for (const subscriberCodec of codecs) {
      test(`transient: ${publisherCodec} publisher -> ${subscriberCodec} subscribers, every delivery path`, async () => {
        const pub = await t.client({ codec: publisherCodec });
        const sub = await t.client({ codec: subscriberCodec });
        const one = sub.subscribe('one.>');
        const two = [sub.subscribe('two.>'), sub.subscribe('two.*')];
        await Promise.all([one.ready, ...two.map((s) => s.ready)]);
        // One receiver (tail written in place), two (shared tail), a tracked delivery (extras), none.
        await pub.publish('one.a', { n: 1 }, { headers: hdr });
        await pub.publish('two.a', { n: 2 }, { headers: hdr });
        const receipt = pub.publish('one.b', { n: 3 }, { headers: hdr, ack: 'delivery' });
        await pub.publish('one.c', { n: 4 });
        await pub.publish('one.d', { n: 5 }, { headers: {} });
        const got = await take(one, 4);
        expect((await receipt).delivered).toBe(1);
        expect(got.map((m) => [m.data, m.headers])).toEqual([[{ n: 1 }, hdr], [{ n: 3 }, hdr], [{ n: 4 }, {}], [{ n: 5 }, {}]]);
        for (const s of two) expect((await take(s, 1)).map((m) => [m.data, m.headers])).toEqual([[{ n: 2 }, hdr]]);
      });
    }
  }

  test('a message without headers reads {} and that object cannot be changed', async () => {
    const c = await t.client();
    const sub = c.subscribe('plain');
    await sub.ready;
    await c.publish('plain', 1);
    const [m] = await take(sub, 1);
    expect(m!.headers).toEqual({});
    expect(Object.isFrozen(m!.headers)).toBe(true);
  });

  for (const store of ['memory', 'lmdb'] as const) {
    test(`persistent (${store} store): kept in the queue, on redelivery and for the dead-letter queue`, async () => {
      await own.start(store === 'lmdb' ? { dataDir } : {});
      const c = await own.client();
      await c.createQueue('work', 'jobs.>', { maxDeliveries: 2 });
      await c.publish('jobs.a', { n: 1 }, { mode: 'persistent', ack: 'submission', headers: hdr });
      const sub = c.subscribe('jobs.>', { durable: 'work' });
      const [first] = await take(sub, 1);
      expect([first!.deliveryCount, first!.headers]).toEqual([1, hdr]);
      first!.nack();
      const [second] = await take(sub, 1);
      expect([second!.deliveryCount, second!.headers]).toEqual([2, hdr]);
      second!.nack();
      const [dead] = await take(c.subscribe('>', { durable: 'work.dlq' }), 1);
      expect([dead!.data, dead!.headers]).toEqual([{ n: 1 }, hdr]);
    });
  }

  test('persistent: headers survive a broker restart, for a JSON consumer too', async () => {
    await own.start({ dataDir });
    const producer = await own.client({ codec: 'json' });
    await producer.createQueue('audit', 'audit.>');
    await producer.publish('audit.x', 'with', { mode: 'persistent', ack: 'submission', headers: hdr });
    await producer.publish('audit.x', 'without', { mode: 'persistent', ack: 'submission' });
    await own.cleanup();
    await own.start({ dataDir });
    for (const codec of codecs) {
      const consumer = await own.client({ codec });
      const got = await take(consumer.subscribe<string>('audit.>', { durable: 'audit' }), 2);
      expect(got.map((m: Message<string>) => [m.data, m.headers])).toEqual([['with', hdr], ['without', {}]]);
      await consumer.close(); // unacked: the next consumer gets them again
    }
  });

  test('the broker refuses invalid headers with INVALID_FRAME, in both codecs', async () => {
    await t.start();
    const bad: [unknown, string][] = [
      [Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])), 'hdr'],
      [{ ['k'.repeat(65)]: 'v' }, 'hdr'],
      [{ '': 'v' }, 'hdr'],
      [{ k: 'v'.repeat(1025) }, 'hdr.k'],
      [{ k: 5 }, 'hdr.k'],
      ['text', 'hdr'],
    ];
    for (const codec of codecs) {
      const c = await raw.connect(t.broker.url, codec);
      for (const [value, field] of bad) {
        for (const frame of [
          { t: 'pub', id: c.id(), topic: 'x', data: c.data(1), ack: 'submission', hdr: value },
          { t: 'out', id: c.id(), space: 's', tuple: [1], ack: 'submission', hdr: value },
        ]) {
          const reply = await c.call(frame);
          expect({ codec, value, reply: [reply.t, reply.code, reply.details?.field] }).toEqual({ codec, value, reply: ['err', 'INVALID_FRAME', field] });
        }
      }
      // At the limits it is accepted.
      const full = { ...Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`k${i}`, 'v'])), ['k'.repeat(64)]: 'v'.repeat(1024) };
      expect((await c.call({ t: 'pub', id: c.id(), topic: 'x', data: c.data(1), ack: 'submission', hdr: full })).t).toBe('receipt');
    }
    const client = await t.client();
    await expect(client.publish('x', 1, { ack: 'submission', headers: { k: 5 as unknown as string } })).rejects.toMatchObject({ code: 'INVALID_FRAME' });
  });
});

describe('tuple spaces', () => {
  for (const codec of codecs) {
    test(`${codec}: out keeps headers; in, rd, inp, rdp, inAll, rdAll return them with { entry: true }`, async () => {
      const c = await t.client({ codec });
      const s = c.space(`hdr-${codec}`);
      const lease = (await s.out(['job', 1], { headers: hdr, ttl: 60_000 }))!;
      await s.out(['job', 2]);
      await s.out(['job', 3], { headers: { only: 'one' } });
      expect(await s.rdp(['job', 1])).toEqual(['job', 1]); // plain calls are unchanged
      expect(await s.rd(['job', 1], { entry: true })).toEqual({ id: lease.id, tuple: ['job', 1], headers: hdr, expiresAt: lease.expiresAt });
      expect(await s.rdp(['job', 2], { entry: true })).toMatchObject({ tuple: ['job', 2], headers: {}, expiresAt: null });
      expect((await s.rdAll(['job', any], { entry: true })).map((e) => e.headers)).toEqual([hdr, {}, { only: 'one' }]);
      expect(await s.inp(['job', 3], { entry: true })).toMatchObject({ tuple: ['job', 3], headers: { only: 'one' } });
      expect(await s.in(['job', 1], { entry: true })).toMatchObject({ id: lease.id, headers: hdr });
      expect((await s.inAll(['job', any], { entry: true })).map((e) => [e.tuple, e.headers])).toEqual([[['job', 2], {}]]);
    });
  }

  test('a waiting taker and reader are handed the headers; so are reservations and notify events', async () => {
    const c = await t.client();
    const writer = await t.client({ codec: 'json' });
    const s = c.space('wait');
    const events = s.notify(['w', any]);
    await events.ready;
    const reader = s.rd(['w', any], { entry: true });
    const taker = s.in(['w', any], { entry: true });
    const reserved = s.in(['w', any], { reserve: 10_000 });
    await c.flush();
    await writer.space('wait').out(['w', 1], { headers: hdr });
    await writer.space('wait').out(['w', 2], { headers: { n: '2' } });
    expect(await reader).toMatchObject({ tuple: ['w', 1], headers: hdr });
    expect(await taker).toMatchObject({ tuple: ['w', 1], headers: hdr });
    const r = (await reserved)!;
    expect([r.tuple, r.headers]).toEqual([['w', 2], { n: '2' }]);
    await r.nack(); // back in the space, headers and all
    expect(await s.inp(['w', 2], { entry: true })).toMatchObject({ tuple: ['w', 2], headers: { n: '2' } });
    const got = await take(events, 4);
    expect(got.map((e: TupleEvent<unknown[]>) => [e.type, e.tuple, e.headers])).toEqual([
      ['out', ['w', 1], hdr], ['in', ['w', 1], hdr], ['out', ['w', 2], { n: '2' }], ['in', ['w', 2], { n: '2' }],
    ]);
  });

  test('batch: out steps carry headers, and every result returns them', async () => {
    const c = await t.client();
    const s = c.space('batch');
    await s.out(['b', 0], { headers: { from: 'out' } });
    const results = await s.batch([{ inp: ['b', 0] }, { out: ['b', 1], headers: hdr }, { out: ['b', 2] }, { rdp: ['b', 1] }]);
    expect(results.map((r) => [r.tuple, r.headers])).toEqual([[['b', 0], { from: 'out' }], [['b', 1], hdr], [['b', 2], {}], [['b', 1], hdr]]);
    expect(await s.rdp(['b', 1], { entry: true })).toMatchObject({ headers: hdr });
  });

  test('a persistent space keeps headers across a restart', async () => {
    await own.start({ dataDir });
    const before = (await own.client()).space('keep', { persistent: true });
    await before.out(['k', 1], { headers: hdr });
    await before.out(['k', 2]);
    await before.batch([{ out: ['k', 3], headers: { b: 'atch' } }]);
    await own.cleanup();
    await own.start({ dataDir });
    const after: Client = await own.client({ codec: 'json' });
    const entries = await after.space('keep').inAll(['k', any], { entry: true });
    expect(entries.map((e) => [e.tuple, e.headers])).toEqual([[['k', 1], hdr], [['k', 2], {}], [['k', 3], { b: 'atch' }]]);
  });

  test('raw frames: hdr appears on tuple, tuples, event and batched only when the writer gave it', async () => {
    await t.start();
    const c = await raw.connect(t.broker.url, 'msgpack');
    expect((await c.call({ t: 'notify', id: c.id(), nid: 1, space: 'r', template: [any] })).t).toBe('ok');
    await c.call({ t: 'out', id: c.id(), space: 'r', tuple: ['a'], ack: 'submission', hdr: { h: '1' } });
    await c.call({ t: 'out', id: c.id(), space: 'r', tuple: ['b'], ack: 'submission' });
    expect(await c.call({ t: 'rd', id: c.id(), space: 'r', template: ['a'] })).toMatchObject({ t: 'tuple', hdr: { h: '1' } });
    expect('hdr' in (await c.call({ t: 'rd', id: c.id(), space: 'r', template: ['b'] }))).toBe(false);
    const all = await c.call({ t: 'rd', id: c.id(), space: 'r', template: [any], limit: 10 });
    expect(all.items.map((i: { hdr?: unknown }) => i.hdr)).toEqual([{ h: '1' }, undefined]);
    const batched = await c.call({ t: 'batch', id: c.id(), space: 'r', steps: [{ op: 'out', tuple: ['c'], hdr: { h: '3' } }] });
    expect(batched.results[0].hdr).toEqual({ h: '3' });
    const events = [await c.next((m) => m.t === 'event'), await c.next((m) => m.t === 'event'), await c.next((m) => m.t === 'event')];
    expect(events.map((e) => e.hdr)).toEqual([{ h: '1' }, undefined, { h: '3' }]);
  });
});
