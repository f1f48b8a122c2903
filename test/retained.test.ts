/**
 * Retained last values (issue 17): `publish(..., { retain: true })` keeps the last message of a
 * topic, and a subscription with `{ retained: true }` gets them first (msg.retained), then live
 * ones with no gap and no repeat between the two; an empty payload clears; limits; restarts
 * (SIGKILL in retained-crash.test.ts); permissions. Cluster mode: cluster-retained.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client, Message, Subscription } from '../client-sdk/index.js';
import { connect } from '../client-sdk/index.js';
import { startBroker, type Broker, type BrokerOptions } from '../server/index.js';
import { take, testBroker, until } from './helpers/setup.js';

const t = testBroker();
afterEach(() => t.cleanup());

/** Messages of `sub` up to and including the first whose data is `marker` (a live publish that ends what a test looks at). */
async function upTo<T>(sub: Subscription<T>, marker: unknown): Promise<Message<T>[]> {
  const out: Message<T>[] = [];
  const it = sub[Symbol.asyncIterator]();
  for (;;) {
    const r = await it.next();
    if (r.done) return out;
    out.push(r.value);
    if (r.value.data === marker) return out;
  }
}

const shown = (ms: Message[]) => ms.map((m) => [m.topic, m.data, m.retained]);

describe('retained messages', () => {
  test('a subscription with retained gets the last message of each matching topic first, flagged, then live ones', async () => {
    const pub = await t.client();
    for (const [topic, value] of [['st.a', 1], ['st.b', 2], ['st.a', 3], ['st.x.y', 4], ['other', 5]] as const) {
      await pub.publish(topic, value, { retain: true, ack: 'submission' });
    }
    await pub.publish('st.c', 'not retained', { ack: 'submission' });

    const sub = (await t.client()).subscribe('st.*', { retained: true });
    await sub.ready;
    await pub.publish('st.b', 'live', { retain: true });
    expect(shown(await upTo(sub, 'live'))).toEqual([['st.a', 3, true], ['st.b', 2, true], ['st.b', 'live', false]]);

    // `>` reaches every depth; topic order; the live retain above replaced st.b's value.
    const deep = (await t.client()).subscribe('st.>', { retained: true });
    expect(shown(await take(deep, 3))).toEqual([['st.a', 3, true], ['st.b', 'live', true], ['st.x.y', 4, true]]);
    const exact = (await t.client()).subscribe('other', { retained: true });
    expect(shown(await take(exact, 1))).toEqual([['other', 5, true]]);

    // Without `retained`, nothing retained.
    const plain = (await t.client()).subscribe('st.*');
    await plain.ready;
    await pub.publish('st.a', 'end');
    expect(shown(await take(plain, 1))).toEqual([['st.a', 'end', false]]);
  });

  test('headers, ids and both codecs come through as the publisher sent them', async () => {
    const pub = await t.client({ codec: 'json' });
    await pub.publish('hdr.a', { n: 1 }, { retain: true, ack: 'submission', headers: { k: 'v' }, msgId: 'm-1' });
    await pub.publish('hdr.b', new Uint8Array([1, 2, 3]), { retain: true, ack: 'submission' });
    for (const codec of ['msgpack', 'json'] as const) {
      const sub = (await t.client({ codec })).subscribe('hdr.*', { retained: true });
      const [a, b] = await take(sub, 2);
      expect([a!.data, a!.headers, a!.id, a!.retained]).toEqual([{ n: 1 }, { k: 'v' }, 'm-1', true]);
      expect(b!.data).toEqual(new Uint8Array([1, 2, 3]));
    }
  });

  test('a large retained message goes out in fragments, still flagged', async () => {
    const pub = await t.client();
    const big = new Uint8Array(300_000).fill(7);
    await pub.publish('big.one', big, { retain: true, ack: 'submission' });
    const [m] = await take((await t.client()).subscribe<Uint8Array>('big.>', { retained: true }), 1);
    expect([m!.retained, m!.data.length, m!.data[299_999]]).toEqual([true, 300_000, 7]);
  });

  test('hand-off under a continuous stream: the retained value, then every later one once, in order', async () => {
    const pub = await t.client();
    const N = 6_000;
    let published = 0;
    const stream = (async () => {
      for (let i = 0; i < N; i++) {
        void pub.publish('hand.off', i, { retain: true });
        published = i + 1;
        // Give the broker and the subscriber turns in between, so the subscription lands mid-stream.
        if (i % 20 === 19) await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const subscriber = await t.client();
    await until(() => published >= N / 3);
    const sub = subscriber.subscribe<number>('hand.*', { retained: true });
    const got = await upTo(sub, N - 1);
    await stream;
    expect(got[0]!.retained).toBe(true);
    expect(got.slice(1).every((m) => !m.retained)).toBe(true);
    const first = got[0]!.data;
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(N - 1); // it did land mid-stream
    expect(got.map((m) => m.data)).toEqual(Array.from({ length: N - first }, (_, i) => first + i));
  });

  test('...and the same with persistent retained publishes, whose record goes to the store', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'linden-retained-'));
    try {
      await t.start({ dataDir });
      const pub = await t.client();
      const N = 2_000;
      let published = 0;
      const stream = (async () => {
        for (let i = 0; i < N; i++) {
          void pub.publish('phand.off', i, { retain: true, mode: 'persistent' });
          published = i + 1;
          if (i % 20 === 19) await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      await until(() => published >= N / 3);
      const sub = (await t.client()).subscribe<number>('phand.>', { retained: true });
      const got = await upTo(sub, N - 1);
      await stream;
      const first = got[0]!.data;
      expect(got[0]!.retained).toBe(true);
      expect(got.map((m) => m.data)).toEqual(Array.from({ length: N - first }, (_, i) => first + i));
    } finally {
      await t.cleanup();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('an empty payload with retain clears the topic: empty string, null, empty bytes', async () => {
    const pub = await t.client();
    for (const empty of ['', null, new Uint8Array(0)]) {
      await pub.publish('clr.t', 'value', { retain: true, ack: 'submission' });
      await pub.publish('clr.t', empty, { retain: true, ack: 'submission' });
      const sub = (await t.client()).subscribe('clr.*', { retained: true });
      await sub.ready;
      await pub.publish('clr.marker', 'marker');
      expect(shown(await take(sub, 1))).toEqual([['clr.marker', 'marker', false]]);
      sub.unsubscribe();
    }
    // Clearing a topic that has none is no error.
    await expect(pub.publish('clr.none', '', { retain: true, ack: 'submission' })).resolves.toMatchObject({ stage: 'submission' });
  });

  test('limits: a new topic past maxRetainedTopics, or bytes past maxRetainedBytes, is RETAINED_FULL and not delivered', async () => {
    await t.start({ maxRetainedTopics: 2, maxRetainedBytes: 200 });
    const pub = await t.client();
    const live = (await t.client()).subscribe('lim.>');
    await live.ready;
    await pub.publish('lim.a', 1, { retain: true, ack: 'submission' });
    await pub.publish('lim.b', 2, { retain: true, ack: 'submission' });
    await expect(pub.publish('lim.c', 3, { retain: true, ack: 'submission' })).rejects.toMatchObject({ code: 'RETAINED_FULL', details: { limit: 'maxRetainedTopics' } });
    await pub.publish('lim.a', 11, { retain: true, ack: 'submission' }); // a topic already counted may change
    await expect(pub.publish('lim.b', 'x'.repeat(300), { retain: true, ack: 'submission' })).rejects.toMatchObject({ code: 'RETAINED_FULL', details: { limit: 'maxRetainedBytes' } });
    await pub.publish('lim.b', '', { retain: true, ack: 'submission' }); // clearing makes room
    await pub.publish('lim.c', 3, { retain: true, ack: 'submission' });
    await pub.publish('lim.end', 'end'); // not retained: no limit applies
    expect((await upTo(live, 'end')).map((m) => m.data)).toEqual([1, 2, 11, '', 3, 'end']);
    const sub = (await t.client()).subscribe('lim.>', { retained: true });
    expect(shown(await take(sub, 2))).toEqual([['lim.a', 11, true], ['lim.c', 3, true]]);
  });

  test('retained cannot be combined with durable or group; retain with a persistent publish answers after the store', async () => {
    const c = await t.client();
    await expect(c.subscribe('x.>', { retained: true, durable: 'q1' }).ready).rejects.toMatchObject({ code: 'INVALID_FRAME' });
    await expect(c.subscribe('x.>', { retained: true, group: 'g' }).ready).rejects.toMatchObject({ code: 'INVALID_FRAME' });
    const receipt = await c.publish('x.p', 1, { retain: true, mode: 'persistent', ack: 'submission' });
    expect(receipt.stage).toBe('submission');
  });

  test('persistent retained messages survive a restart; transient ones do not, and a transient one replaces a stored one', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'linden-retained-'));
    const brokers: Broker[] = [];
    const clients: Client[] = [];
    const start = async () => {
      const b = await startBroker({ port: 0, logLevel: 'silent', dataDir });
      brokers.push(b);
      const c = await connect(b.url, { reconnect: false });
      clients.push(c);
      return { b, c };
    };
    try {
      const one = await start();
      await one.c.publish('rs.kept', { v: 1 }, { retain: true, mode: 'persistent', ack: 'submission', headers: { h: '1' } });
      await one.c.publish('rs.memory', 'gone after restart', { retain: true, ack: 'submission' });
      await one.c.publish('rs.replaced', 'stored', { retain: true, mode: 'persistent', ack: 'submission' });
      await one.c.publish('rs.replaced', 'in memory', { retain: true, ack: 'submission' });
      await one.c.publish('rs.cleared', 'stored', { retain: true, mode: 'persistent', ack: 'submission' });
      await one.c.publish('rs.cleared', null, { retain: true, mode: 'persistent', ack: 'submission' });
      await one.c.close();
      await one.b.close();

      const two = await start();
      const sub = two.c.subscribe('rs.>', { retained: true });
      await sub.ready;
      await two.c.publish('rs.marker', 'marker');
      const got = await upTo(sub, 'marker');
      expect(shown(got)).toEqual([['rs.kept', { v: 1 }, true], ['rs.marker', 'marker', false]]);
      expect(got[0]!.headers).toEqual({ h: '1' });
      const list = await httpJson(`${two.b.url.replace(/^ws/, 'http')}/api/retained?pattern=${encodeURIComponent('rs.>')}`) as { retained: Array<{ topic: string; mode: string; bytes: number }> };
      expect(list.retained.map((r) => [r.topic, r.mode])).toEqual([['rs.kept', 'persistent']]);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await Promise.all(brokers.map((b) => b.close()));
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('/api/retained lists topic, bytes, mode and time for a pattern, and refuses a bad one', async () => {
    const b = await t.start();
    const c = await t.client();
    await c.publish('api.a', 'x', { retain: true, ack: 'submission' });
    await c.publish('api.b.c', 'yy', { retain: true, mode: 'persistent', ack: 'submission' });
    const base = b.url.replace(/^ws/, 'http');
    const all = await httpJson(`${base}/api/retained`) as { topics: number; retained: Array<Record<string, unknown>> };
    expect(all.topics).toBe(2);
    expect(all.retained.map((r) => [r.topic, r.mode])).toEqual([['api.a', 'transient'], ['api.b.c', 'persistent']]);
    expect(all.retained[0]).toMatchObject({ bytes: expect.any(Number), time: expect.any(Number), mid: expect.any(String) });
    const some = await httpJson(`${base}/api/retained?pattern=api.*`) as { retained: Array<{ topic: string }> };
    expect(some.retained.map((r) => r.topic)).toEqual(['api.a']);
    await expect(httpJson(`${base}/api/retained?pattern=a..b`)).rejects.toThrow(/400/);
    const metrics = await new Promise<string>((resolve, reject) => {
      get(`${base}/metrics`, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
    expect(metrics).toMatch(/^linden_retained_topics 2$/m);
    expect(metrics).toMatch(/^linden_retained_bytes \d+$/m);
  });
});

test('a will with retain becomes the topic\'s retained message when the connection is lost', async () => {
  const watcher = await t.client();
  const sensor = await t.client({ reconnect: false, will: { topic: 'presence.s1', data: 'offline', retain: true } });
  await sensor.publish('presence.s1', 'online', { retain: true, ack: 'submission' });
  const before = watcher.subscribe('presence.*', { retained: true });
  expect(shown(await take(before, 1))).toEqual([['presence.s1', 'online', true]]);
  await watcher.admin({ op: 'kick', connection: sensor.connectionId });
  expect(shown(await take(before, 1))).toEqual([['presence.s1', 'offline', false]]);
  const later = (await t.client()).subscribe('presence.*', { retained: true });
  expect(shown(await take(later, 1))).toEqual([['presence.s1', 'offline', true]]);
});

test('a scheduled publish with retain is retained when it is due, not before', async () => {
  const c = await t.client();
  const r = await c.publish('sched.t', 'later', { retain: true, delay: 200, ack: 'submission' });
  const before = c.subscribe('sched.*', { retained: true });
  await before.ready;
  await c.publish('sched.marker', 'marker');
  expect(shown(await take(before, 1))).toEqual([['sched.marker', 'marker', false]]);
  expect(shown(await take(before, 1))).toEqual([['sched.t', 'later', false]]); // due
  const after = c.subscribe('sched.t', { retained: true });
  const [m] = await take(after, 1);
  expect([m!.data, m!.retained, m!.id]).toEqual(['later', true, r.id]);
});

describe('retained messages and permissions', () => {
  const AUTH: BrokerOptions['auth'] = {
    users: [
      { user: 'writer', password: 'plain:w', permissions: { publish: { allow: ['>'] } } },
      { user: 'reader', password: 'plain:r', permissions: { subscribe: { allow: ['status.>'], deny: ['status.secret.*'] } } },
    ],
  };

  test('a subscriber gets only the retained messages of topics it may subscribe to; a pattern reaching a denied topic is refused whole', async () => {
    await t.start({ auth: AUTH });
    const writer = await t.client({ user: 'writer', password: 'w', reconnect: false });
    for (const topic of ['status.public.a', 'status.secret.b', 'status.public.c', 'private.d']) {
      await writer.publish(topic, topic, { retain: true, ack: 'submission' });
    }
    const reader = await t.client({ user: 'reader', password: 'r', reconnect: false });
    // `status.>` touches the denied status.secret.*: refused, and nothing of it delivered first.
    const wide = reader.subscribe('status.>', { retained: true });
    await expect(wide.ready).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    expect(wide.received).toBe(0);
    await expect(reader.subscribe('>', { retained: true }).ready).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    const sub = reader.subscribe('status.public.*', { retained: true });
    await sub.ready;
    await writer.publish('status.public.z', 'marker');
    expect(shown(await upTo(sub, 'marker'))).toEqual([
      ['status.public.a', 'status.public.a', true], ['status.public.c', 'status.public.c', true], ['status.public.z', 'marker', false],
    ]);
  });
});

function httpJson(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`${res.statusCode}: ${body}`));
        else resolve(JSON.parse(body));
      });
    }).on('error', reject);
  });
}
