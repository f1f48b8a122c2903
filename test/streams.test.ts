import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LindenError, type Client, type Message } from '../client-sdk/index.js';
import type { WebSocket } from 'ws';
import { take, testBroker, until } from './helpers/setup.js';
import { readerReaches } from './helpers/stream-readers.js';
import { rawClients } from './helpers/raw-client.js';

const t = testBroker();
let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'linden-streams-'));
});
afterEach(async () => {
  await t.cleanup();
  await rm(dataDir, { recursive: true, force: true });
});

type N = { n: number };
const persist = { mode: 'persistent', ack: 'submission' } as const;

async function publishAll(c: Client, topic: string, from: number, to: number): Promise<void> {
  for (let n = from; n < to; n++) await c.publish(topic, { n }, persist);
}

for (const store of ['memory', 'lmdb'] as const) {
  describe(`replayable streams (${store} store)`, () => {
    const start = () => t.start(store === 'lmdb' ? { dataDir } : {});

    test('a named reader\'s delivery not answered within ackWait comes again; working() extends it; ackWait needs a reader', async () => {
      await start();
      const c = await t.client();
      await c.createStream('slow', 'slow.>');
      // 1 s: publishing seq 2, taking it and sending working() must fit inside seq 1's second ackWait, on a loaded machine too.
      const sub = c.subscribe<N>('slow.>', { stream: 'slow', reader: 'r', ackWait: 1_000 });
      await sub.ready;
      await c.publish('slow.a', { n: 1 }, persist);
      const [first] = await take(sub, 1);
      const [timedOut] = await take(sub, 1); // not acked within ackWait
      expect([first!.seq, timedOut!.seq]).toEqual([1, 1]);
      expect([first!.deliveryCount, timedOut!.redelivered, timedOut!.deliveryCount]).toEqual([1, true, 2]);
      // Seq 2 is delivered after seq 1's redelivery, so its deadline is later; working() on seq 1
      // once seq 2 has arrived moves seq 1's past it: whatever the machine's speed, 2 comes back first.
      await c.publish('slow.b', { n: 2 }, persist);
      const [other] = await take(sub, 1);
      expect(other!.seq).toBe(2);
      timedOut!.working();
      const again = await take(sub, 2);
      expect(again.map((m) => [m.seq, m.deliveryCount])).toEqual([[2, 2], [1, 3]]);
      for (const m of again) m.ack();
      expect(await readerReaches(c, 'slow', 'r', 3)).toMatchObject({ unacked: 0 });
      await expect(c.subscribe('slow.>', { stream: 'slow', ackWait: 100 }).ready).rejects.toMatchObject({ code: 'INVALID_FRAME' });
      expect(() => c.subscribe('slow.>', { stream: 'slow', reader: 'r2', maxDeliveries: 3 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    });

    test('a sub with stream refuses the queue settings but a named reader\'s ackWait, naming the field, and keeps what the stream holds', async () => {
      await start();
      const c = await t.client();
      await c.createStream('raw', 'raw.>');
      await c.publish('raw.a', { n: 1 }, persist);
      const raws = rawClients();
      try {
        const r = await raws.connect(t.broker.url, 'json');
        const sub = (fields: Record<string, unknown>) => r.call({ t: 'sub', id: r.id(), sid: r.id(), pattern: 'raw.>', stream: 'raw', ...fields });
        for (const [fields, field] of [
          [{ reader: 'r', maxDeliveries: 3 }, 'maxDeliveries'],
          [{ reader: 'r', overflow: 'drop-oldest' }, 'overflow'],
          [{ ackWait: 1_000 }, 'ackWait'], // no reader: nothing waits for an ack
          [{ reader: 'r', ackWait: 0 }, 'ackWait'],
        ] as const) {
          expect(await sub(fields)).toMatchObject({ t: 'err', code: 'INVALID_FRAME', details: { field } });
        }
        expect(await sub({ reader: 'r', ackWait: 1_000 })).toMatchObject({ t: 'ok' });
        expect((await c.streamInfo('raw')).messages).toBe(1); // nothing refused took anything away
        expect(raws.violations()).toEqual([]);
      } finally {
        await raws.closeAll();
      }
    });

    test('a nacked message that retention dropped meanwhile counts as acked: the position moves past it', async () => {
      await start();
      const c = await t.client();
      await c.createStream('short', 'short.>', { maxMessages: 1 });
      await c.publish('short.a', { n: 1 }, persist);
      const sub = c.subscribe<N>('short.>', { stream: 'short', reader: 'r' });
      const [m1] = await take(sub, 1);
      await c.publish('short.a', { n: 2 }, persist); // seq 1 is dropped: maxMessages 1
      const [m2] = await take(sub, 1);
      expect([m1!.seq, m2!.seq]).toEqual([1, 2]);
      m2!.ack(); // the position stays at 1, which is still unacked
      m1!.nack(); // nothing left to deliver again
      expect(await readerReaches(c, 'short', 'r', 3)).toMatchObject({ unacked: 0 });
    });

    test('metrics: messages and bytes per stream, and each named reader\'s lag', async () => {
      const broker = await start();
      const c = await t.client();
      await c.createStream('metered', 'metered.>');
      await publishAll(c, 'metered.a', 0, 3);
      const reader = c.subscribe<N>('metered.>', { stream: 'metered', reader: 'r1' });
      const [m] = await take(reader, 1);
      m!.ack();
      await c.flush();
      const metrics = async () => (await fetch(`${broker.url.replace('ws', 'http')}/metrics`)).text();
      let text = '';
      // The ack reaches the broker a moment after flush(): the lag is 2 once it has.
      await until(() => /^linden_stream_reader_lag\{stream="metered",reader="r1"\} 2$/m.test(text), 5_000, async () => { text = await metrics(); });
      expect(text).toMatch(/^linden_stream_messages\{stream="metered"\} 3$/m);
      expect(text).toMatch(/^linden_stream_bytes\{stream="metered"\} [1-9]\d*$/m);
    });

    test('a stream keeps persistent messages only, with seq and time, and replays them from first, a seq, a time, the last or new', async () => {
      await start();
      const c = await t.client();
      await c.createStream('orders', 'orders.>');
      const before = Date.now();
      await publishAll(c, 'orders.eu', 0, 3);
      await c.publish('orders.eu', { n: 99 }, { ack: 'submission' }); // transient: not kept
      await new Promise((r) => setTimeout(r, 5)); // a later append time for the { time } start
      const middle = Date.now();
      await publishAll(c, 'orders.us', 3, 5);

      const first = await take(c.subscribe<N>('orders.>', { stream: 'orders' }), 5);
      expect(first.map((m) => [m.seq, m.data.n])).toEqual([[1, 0], [2, 1], [3, 2], [4, 3], [5, 4]]);
      expect(first.every((m) => m.time! >= before && m.time! <= Date.now())).toBe(true);
      expect(first[0]!.wantsAck).toBe(false); // an unnamed reader acks nothing

      const fromSeq = await take(c.subscribe<N>('orders.>', { stream: 'orders', start: { seq: 4 } }), 2);
      expect(fromSeq.map((m) => m.seq)).toEqual([4, 5]);
      const fromTime = await take(c.subscribe<N>('orders.>', { stream: 'orders', start: { time: middle } }), 2);
      expect(fromTime.map((m) => m.data.n)).toEqual([3, 4]);
      // The subscription's pattern filters the stream.
      const onlyEu = await take(c.subscribe<N>('orders.eu', { stream: 'orders' }), 3);
      expect(onlyEu.map((m) => m.seq)).toEqual([1, 2, 3]);

      const last = c.subscribe<N>('orders.>', { stream: 'orders', start: 'last' });
      const fresh = c.subscribe<N>('orders.>', { stream: 'orders', start: 'new' });
      await Promise.all([last.ready, fresh.ready]);
      await publishAll(c, 'orders.eu', 5, 6);
      expect((await take(last, 2)).map((m) => m.seq)).toEqual([5, 6]);
      expect((await take(fresh, 1)).map((m) => [m.seq, m.data.n])).toEqual([[6, 5]]);
    });

    test('a JSON client reads a stream too, with seq and time, and acks as a named reader', async () => {
      await start();
      const c = await t.client({ codec: 'json' });
      await c.createStream('j', 'j.>');
      await c.publish('j.a', { n: 1 }, persist);
      const [m] = await take(c.subscribe<N>('j.>', { stream: 'j', reader: 'json' }), 1);
      expect([m!.seq, m!.data, typeof m!.time, m!.wantsAck]).toEqual([1, { n: 1 }, 'number', true]);
      m!.ack();
      let info = await c.streamInfo('j');
      await until(() => info.readers[0]?.position === 2, 5_000, async () => {
        info = await c.streamInfo('j');
      });
    });

    test('no gap and no duplicate where a reader switches from the stored backlog to live messages', async () => {
      await start();
      const producer = await t.client();
      const reader = await t.client();
      await producer.createStream('ticks', 'tick');
      const total = 3_000;
      // Publishes keep coming while the reader catches up and goes live.
      let stored = 0;
      const publishing = (async () => {
        const sent: Promise<unknown>[] = [];
        for (let n = 0; n < total; n++) {
          sent.push(producer.publish('tick', { n }, persist).then(() => stored++));
          if (n % 100 === 99) await Promise.all(sent.splice(0));
        }
        await Promise.all(sent);
      })();
      // The reader comes while a third is stored and the rest is still coming.
      await until(() => stored >= total / 3);
      const sub = reader.subscribe<N>('tick', { stream: 'ticks' });
      let storedWhenReady = total;
      void sub.ready.then(() => (storedWhenReady = stored));
      const got = await take(sub, total);
      expect(storedWhenReady).toBeLessThan(total); // it went live while publishes went on
      await publishing;
      expect(got.map((m) => m.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      expect(got.map((m) => m.data.n)).toEqual(Array.from({ length: total }, (_, i) => i));
    });

    test('retention: maxMessages and maxBytes drop the oldest with discard "old"; discard "new" refuses with STREAM_FULL', async () => {
      await start();
      const c = await t.client();
      await c.createStream('last3', 'a', { maxMessages: 3 });
      await publishAll(c, 'a', 0, 5);
      expect(await c.streamInfo('last3')).toMatchObject({ firstSeq: 3, lastSeq: 5, messages: 3 });
      expect((await take(c.subscribe<N>('a', { stream: 'last3' }), 3)).map((m) => m.data.n)).toEqual([2, 3, 4]);
      await c.createStream('last3', 'a', { maxMessages: 2 }); // tighter limits drop the oldest at once
      expect(await c.streamInfo('last3')).toMatchObject({ firstSeq: 4, lastSeq: 5, messages: 2 });

      await c.createStream('small', 'b', { maxBytes: 40 });
      for (let n = 0; n < 6; n++) await c.publish('b', new Uint8Array(10), persist);
      const small = await c.streamInfo('small');
      expect(small.messages * 10).toBeLessThanOrEqual(40);
      expect(small.bytes).toBeLessThanOrEqual(40);
      expect(small.lastSeq).toBe(6);

      await c.createStream('strict', 'c', { maxMessages: 2, discard: 'new' });
      await publishAll(c, 'c', 0, 2);
      const refused = await c.publish('c', { n: 2 }, persist).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(LindenError);
      expect((refused as LindenError).code).toBe('STREAM_FULL');
      expect(await c.streamInfo('strict')).toMatchObject({ firstSeq: 1, lastSeq: 2, messages: 2 });
      // Refused whole: a durable queue on the same topic did not store it either.
      await c.createQueue('strict-q', 'c');
      await c.publish('c', { n: 3 }, persist).catch(() => undefined);
      expect((await c.admin({ op: 'queue', name: 'strict-q' }) as { depth: number }).depth).toBe(0);
      // A message larger than maxBytes is refused whatever the policy.
      const tooLarge = await c.publish('b', new Uint8Array(100), persist).catch((err: unknown) => err);
      expect((tooLarge as LindenError).code).toBe('STREAM_FULL');
    });

    test('retention: maxAge drops aged messages by its sweep, and readers never see them', async () => {
      await start();
      const c = await t.client();
      await c.createStream('recent', 'r', { maxAge: 300 });
      await publishAll(c, 'r', 0, 3);
      expect((await c.streamInfo('recent')).messages).toBe(3);
      // Nobody publishes or reads: only the sweep can drop them.
      let info = await c.streamInfo('recent');
      await until(() => info.messages === 0, 5_000, async () => {
        info = await c.streamInfo('recent');
      });
      expect(info).toMatchObject({ messages: 0, bytes: 0, firstSeq: 4, lastSeq: 3 });
      const sub = c.subscribe<N>('r', { stream: 'recent' });
      await sub.ready;
      await publishAll(c, 'r', 3, 4);
      expect((await take(sub, 1)).map((m) => [m.seq, m.data.n])).toEqual([[4, 3]]);
    });

    test('a named reader keeps its position across reconnects: acked messages do not come again, unacked ones do', async () => {
      await start();
      const producer = await t.client();
      await producer.createStream('audit', 'audit.>');
      await publishAll(producer, 'audit.x', 0, 5);
      const first = await t.client();
      const got = await take(first.subscribe<N>('audit.>', { stream: 'audit', reader: 'r1' }), 5);
      expect(got.every((m) => m.wantsAck)).toBe(true);
      for (const m of got.slice(0, 3)) m.ack(); // 4 and 5 stay unacked
      await first.flush();
      const info = await producer.streamInfo('audit');
      expect(info.readers).toEqual([{ name: 'r1', position: 4, lag: 2, connected: true, unacked: 2 }]);
      await first.close();

      const second = await t.client();
      const again = second.subscribe<N>('audit.>', { stream: 'audit', reader: 'r1', start: 'new' }); // start is for new readers only
      const redelivered = await take(again, 2);
      expect(redelivered.map((m) => [m.seq, m.data.n])).toEqual([[4, 3], [5, 4]]);
      for (const m of redelivered) m.ack();
      await publishAll(producer, 'audit.x', 5, 6);
      const [live] = await take(again, 1);
      expect([live!.seq, live!.data.n]).toEqual([6, 5]);
      live!.ack();
      await second.flush();
      let after = await producer.streamInfo('audit');
      await until(() => after.readers[0]!.position === 7, 5_000, async () => {
        after = await producer.streamInfo('audit');
      });
      expect(after.readers).toEqual([{ name: 'r1', position: 7, lag: 0, connected: true, unacked: 0 }]);
    });

    test('an unnamed reader that reconnects reads on after the last message it had, without repeats', async () => {
      await start();
      const producer = await t.client();
      await producer.createStream('feed', 'feed');
      await publishAll(producer, 'feed', 0, 3);
      const reader = await t.client();
      const sub = reader.subscribe<N>('feed', { stream: 'feed' });
      expect((await take(sub, 3)).map((m) => m.seq)).toEqual([1, 2, 3]);
      const reconnected = new Promise<void>((resolve) => {
        void (async () => {
          for await (const e of reader.status()) if (e.type === 'connected') return resolve();
        })();
      });
      (reader as unknown as { conn: { socket: WebSocket } }).conn.socket.terminate();
      await reconnected;
      await sub.ready;
      await publishAll(producer, 'feed', 3, 5);
      expect((await take(sub, 2)).map((m) => m.seq)).toEqual([4, 5]);
    });

    test('a named reader that falls behind its in-flight window reads on as it acks', async () => {
      await start();
      const c = await t.client();
      await c.createStream('big', 'big');
      const total = 700;
      const sent: Promise<unknown>[] = [];
      for (let n = 0; n < total; n++) sent.push(c.publish('big', { n }, persist));
      await Promise.all(sent);
      const seqs: number[] = [];
      const done = new Promise<void>((resolve) => {
        c.subscribe<N>('big', {
          stream: 'big', reader: 'slow',
          callback: (m: Message<N>) => {
            seqs.push(m.seq!);
            if (seqs.length === total) resolve();
          },
        });
      });
      await done;
      expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    });

    test('refusals: a pattern conflict, an unknown stream, start without stream, a taken-over reader, a deleted stream', async () => {
      await start();
      const c = await t.client();
      await c.createStream('s1', 'x.>');
      await expect(c.createStream('s1', 'y.>')).rejects.toMatchObject({ code: 'STREAM_CONFLICT' });
      await c.createStream('s1', 'x.>', { maxMessages: 10 }); // same pattern: new limits
      expect((await c.streamInfo('s1')).config.maxMessages).toBe(10);
      await expect(c.subscribe('x.>', { stream: 'nope' }).ready).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(c.streamInfo('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(() => c.subscribe('x.>', { start: 'first' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
      await expect(c.createStream('s2', 'z', { maxAge: 0 })).rejects.toMatchObject({ code: 'INVALID_FRAME' });

      const old = c.subscribe('x.>', { stream: 's1', reader: 'one' });
      await old.ready;
      const other = await t.client();
      const newer = other.subscribe('x.>', { stream: 's1', reader: 'one' });
      await newer.ready;
      await expect(take(old, 1)).rejects.toMatchObject({ code: 'STREAM_READER_MOVED' });

      await c.deleteStream('s1');
      await expect(take(newer, 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(c.streamInfo('s1')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      // A namesake starts afresh.
      await c.createStream('s1', 'x.>');
      await c.publish('x.a', { n: 1 }, persist);
      expect(await c.streamInfo('s1')).toMatchObject({ firstSeq: 1, lastSeq: 1, messages: 1, readers: [] });
      expect(await c.admin({ op: 'streams' })).toMatchObject([{ name: 's1', messages: 1 }]);
    });
  });
}
