/**
 * The broker's request-level hooks see every request and every reply (README "Interceptors",
 * issue 20): submission receipts pass the outbound hooks and keep their place behind replies an
 * async hook still holds; `hello` passes the inbound hooks, and what follows it waits for it.
 */
import { LindenError, fragmentation, type Frame, type Interceptor } from '../client-sdk/index.js';
import type { CodecName } from '../protocol/version.js';
import { protocolSuite } from './helpers/protocol-suite.js';

const { t, raw } = protocolSuite();

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe.each(['json', 'msgpack'] as CodecName[])('%s', (codec) => {
  test('a submission receipt passes the outbound hooks, behind a reply an async hook holds', async () => {
    const seen: string[] = [];
    const slowPongs: Interceptor = {
      name: 'slow-pongs',
      async outbound(frame: Frame) {
        seen.push(frame.t);
        if (frame.t === 'pong') await turn();
      },
    };
    const broker = await t.start({ interceptors: [slowPongs, fragmentation()] });
    const c = await raw.connect(broker.url, codec);
    c.send([{ t: 'ping', id: 1 }, { t: 'pub', id: 2, topic: 'nobody', data: c.data(1), ack: 'submission' }]);
    await c.reply(2);
    expect(c.messages.filter((m) => m.re === 1 || m.re === 2).map((m) => m.t)).toEqual(['pong', 'receipt']);
    expect(seen).toContain('receipt');
  });

  test('hello passes the inbound hooks; what follows it in its frame waits for its outcome', async () => {
    const seen: string[] = [];
    const slowHello: Interceptor = {
      name: 'slow-hello',
      async inbound(frame: Frame) {
        seen.push(frame.t);
        if (frame.t === 'hello') await turn();
      },
    };
    const broker = await t.start({ interceptors: [slowHello, fragmentation()] });
    const c = await raw.open(broker.url, codec);
    c.send([{ t: 'hello', id: 1, v: 1 }, { t: 'ping', id: 2 }]);
    expect(await c.reply(2)).toMatchObject({ t: 'pong' });
    expect(c.messages.map((m) => m.t)).toEqual(['welcome', 'pong']);
    expect(seen).toEqual(['hello', 'ping']);
  });

  test('a hello an inbound hook refuses: its err names it, and the handshake rules go on', async () => {
    const gate: Interceptor = {
      name: 'gate',
      async inbound(frame: Frame) {
        if (frame.t === 'hello' && frame.name !== 'friend') throw new LindenError('INVALID_FRAME', 'strangers are not welcome');
      },
    };
    const broker = await t.start({ interceptors: [gate, fragmentation()] });
    const friend = await raw.open(broker.url, codec);
    expect(await friend.hello({ name: 'friend' })).toMatchObject({ t: 'welcome' });
    const stranger = await raw.open(broker.url, codec);
    stranger.send([{ t: 'hello', id: 1, v: 1, name: 'stranger' }, { t: 'ping', id: 2 }]);
    expect(await stranger.reply(1)).toMatchObject({ t: 'err', code: 'INVALID_FRAME', message: 'strangers are not welcome' });
    expect(await stranger.reply(2)).toMatchObject({ t: 'err', code: 'HANDSHAKE_REQUIRED' });
    expect((await stranger.closed).code).toBe(4001);
  });
});
