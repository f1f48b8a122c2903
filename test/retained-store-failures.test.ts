/**
 * Retained messages on the wire and against a failing store (issue 17): raw frames in both
 * codecs show `msg.retained` and the order (retained first, before the `sub`'s `ok`), and a
 * persistent retain whose store write fails is refused and leaves the previous value in place,
 * in memory and on disk.
 */
import type { CodecName } from '../protocol/version.js';
import { faultyBrokers } from './helpers/faulty-store.js';

const suite = faultyBrokers('linden-retained-failures-');
const { raw, start } = suite;
const CODECS: CodecName[] = ['json', 'msgpack'];

describe.each(CODECS)('%s', (codec) => {
  test('retained msgs carry retained: true and come before the sub\'s ok; live ones after, without it', async () => {
    await start();
    const c = await raw.connect(suite.broker.url, codec);
    await c.call({ t: 'pub', id: 1, topic: 'w.a', data: c.data('A'), retain: true, ack: 'submission' });
    await c.call({ t: 'pub', id: 2, topic: 'w.b', data: c.data('B'), retain: true, ack: 'submission' });
    c.send({ t: 'sub', id: 3, sid: 9, pattern: 'w.*', retained: true });
    const first = await c.next((m) => m.re === 3 || m.t === 'msg');
    const second = await c.next((m) => m.re === 3 || m.t === 'msg');
    const ok = await c.next((m) => m.re === 3 || m.t === 'msg');
    expect([first, second].map((m) => [m.t, m.topic, c.decodeData(m.data), m.retained, m.sid])).toEqual([
      ['msg', 'w.a', 'A', true, 9], ['msg', 'w.b', 'B', true, 9],
    ]);
    expect(ok).toMatchObject({ t: 'ok', re: 3 });
    await c.call({ t: 'pub', id: 4, topic: 'w.a', data: c.data('A2'), ack: 'submission' });
    const live = await c.next((m) => m.t === 'msg');
    expect(live).not.toHaveProperty('retained');
    expect(c.decodeData(live.data)).toBe('A2');
    // retain with reply, retained with group: refused naming the field.
    expect(await c.call({ t: 'pub', id: 5, topic: 'w.r', data: c.data(1), retain: true, ack: 'processing', reply: true })).toMatchObject({
      t: 'err', code: 'INVALID_FRAME', details: { field: 'retain' },
    });
    expect(await c.call({ t: 'sub', id: 6, sid: 10, pattern: 'w.*', retained: true, group: 'g' })).toMatchObject({
      t: 'err', code: 'INVALID_FRAME', details: { field: 'retained' },
    });
  });

  test('a persistent retain whose write fails is refused; the previous value stays, in memory and after a restart', async () => {
    await start('lmdb');
    const c = await raw.connect(suite.broker.url, codec);
    expect(await c.call({ t: 'pub', id: 1, topic: 'f.t', data: c.data('old'), retain: true, mode: 'persistent', ack: 'submission' }))
      .toMatchObject({ t: 'receipt', re: 1 });
    suite.store.failWrites((key) => key[0] === 'rt');
    expect(await c.call({ t: 'pub', id: 2, topic: 'f.t', data: c.data('new'), retain: true, mode: 'persistent', ack: 'submission' }))
      .toMatchObject({ t: 'err', re: 2 });
    suite.store.failWrites(undefined);
    const s = await raw.connect(suite.broker.url, codec);
    await s.call({ t: 'sub', id: 1, sid: 1, pattern: 'f.>', retained: true });
    const kept = s.unread().filter((m) => m.t === 'msg');
    expect(kept.map((m) => [m.topic, s.decodeData(m.data), m.retained])).toEqual([['f.t', 'old', true]]);

    await raw.closeAll();
    const again = await suite.restart();
    const r = await raw.connect(again.url, codec);
    await r.call({ t: 'sub', id: 1, sid: 1, pattern: 'f.>', retained: true });
    expect(r.unread().filter((m) => m.t === 'msg').map((m) => s.decodeData(m.data))).toEqual(['old']);
  });
});
