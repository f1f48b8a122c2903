/**
 * What a persistent publish whose store write fails leaves behind (issue 20): nothing that makes
 * its retry fail too. Raw frames, both codecs, the real memory and LMDB stores wrapped so their
 * writes can be made to fail.
 */
import type { CodecName } from '../protocol/version.js';
import { faultyBrokers } from './helpers/faulty-store.js';

const suite = faultyBrokers('linden-durable-failures-');
const { raw, start, view } = suite;

const CODECS: CodecName[] = ['json', 'msgpack'];

describe.each(CODECS)('%s', (codec) => {
  describe.each(['memory', 'lmdb'] as const)('%s store', (kind) => {
    test('a persistent publish whose write failed leaves its mid free: the retry is stored and received once', async () => {
      await start(kind);
      const c = await raw.connect(suite.broker.url, codec);
      await c.call({ t: 'qcreate', id: 1, name: 'billing', pattern: 'orders.>' });
      const pub = (id: number) => ({ t: 'pub', id, topic: 'orders.eu', data: c.data({ n: 1 }), mode: 'persistent', ack: 'submission', mid: 'order-1' });

      // The write carrying the mid's dedupe record fails; a repeat sent meanwhile waits for it and fails too.
      suite.store.failWrites((key) => key[0] === 'd');
      c.send([pub(2), pub(3)]);
      expect(await c.reply(2)).toMatchObject({ t: 'err', code: 'INTERNAL_ERROR', re: 2 });
      expect(await c.reply(3)).toMatchObject({ t: 'err', code: 'INTERNAL_ERROR', re: 3 });
      expect(suite.store.failed).toBe(1);

      suite.store.failWrites(undefined);
      const retry = await c.call(pub(4));
      expect(retry).toMatchObject({ t: 'receipt', re: 4, mid: 'order-1', queues: ['billing'] });
      expect(retry).not.toHaveProperty('duplicate');
      expect(await c.call(pub(5))).toMatchObject({ t: 'receipt', re: 5, duplicate: true, queues: [] });
      // The copy whose write failed left the queue: no consumer had taken it.
      expect(await view('billing')).toMatchObject({ messages: 1, depth: 1 });

      const consumer = await raw.connect(suite.broker.url, codec);
      await consumer.call({ t: 'sub', id: 1, sid: 1, pattern: 'orders.>', durable: 'billing' });
      const msg = await consumer.next((m) => m.t === 'msg');
      expect(msg).toMatchObject({ mid: 'order-1', dc: 1 });
      await consumer.sync();
      expect(consumer.unread().filter((m) => m.t === 'msg')).toEqual([]);
    });
  });
});
