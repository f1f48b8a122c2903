/**
 * Fairness (DESIGN.md §5, issue 20): a frame of N messages is N units of work, handled in slices
 * while other connections take their turns, and still in order (protocol.md §2). Structural
 * checks only; how long one client's burst holds up another is bench/fairness.ts's to measure.
 */
import type { CodecName } from '../protocol/version.js';
import { protocolSuite } from './helpers/protocol-suite.js';

const { t, raw } = protocolSuite();

const CODECS: CodecName[] = ['json', 'msgpack'];
/** One frame under the default 1 MiB in both codecs, far more work than one slice. */
const BURST = 20_000;

function outs(space: string, n: number): object[] {
  return Array.from({ length: n }, (_, i) => ({ t: 'out', space, tuple: [i] }));
}

describe.each(CODECS)('%s', (codec) => {
  test('another client is answered while a burst is being handled, before its last reply', async () => {
    const broker = await t.start();
    const bursting = await raw.connect(broker.url, codec);
    const other = await raw.connect(broker.url, codec);
    const first = bursting.id();
    const last = bursting.id();
    bursting.send([{ t: 'ping', id: first }, ...outs('burst', BURST), { t: 'ping', id: last }]);
    // Its first answer leaves with its first slice: the broker is inside the burst now.
    await bursting.reply(first);
    await other.sync();
    expect(bursting.poll((m) => m.re === last)).toBeUndefined();
    expect(await bursting.reply(last)).toMatchObject({ t: 'pong' });
    // All of it was handled, once, in order: every tuple is there and the pongs came first to last.
    const counted = await other.call({ t: 'count', id: other.id(), space: 'burst', template: [{ $any: true }] });
    expect(counted).toMatchObject({ t: 'counted', count: BURST });
    const taken = await other.call({ t: 'in', id: other.id(), space: 'burst', template: [{ $any: true }] });
    expect(taken.tuple).toEqual([0]);
  });

  test('what a client sent before it closed is still handled, in its turns', async () => {
    const broker = await t.start();
    const leaving = await raw.connect(broker.url, codec);
    const other = await raw.connect(broker.url, codec);
    leaving.send(outs('gone', BURST));
    await leaving.close();
    const lastOne = await other.call({ t: 'in', id: other.id(), space: 'gone', template: [BURST - 1], wait: true, timeout: 10_000 });
    expect(lastOne).toMatchObject({ t: 'tuple', tuple: [BURST - 1] });
    const counted = await other.call({ t: 'count', id: other.id(), space: 'gone', template: [{ $any: true }] });
    expect(counted).toMatchObject({ count: BURST - 1 });
  });

  test('a hello and what follows it in one frame: the handshake rules hold across slices', async () => {
    const broker = await t.start();
    const c = await raw.open(broker.url, codec);
    const hello = c.id();
    const done = c.id();
    c.send([{ t: 'hello', id: hello, v: 1 }, ...outs('early', 1_000), { t: 'ping', id: done }]);
    expect(await c.reply(hello)).toMatchObject({ t: 'welcome' });
    expect(await c.reply(done)).toMatchObject({ t: 'pong' });
    // Before hello nothing is taken: a burst from a stranger stops at its first message.
    const stranger = await raw.open(broker.url, codec);
    stranger.send([...outs('early', 1_000), { t: 'hello', id: 1, v: 1 }]);
    expect((await stranger.error('HANDSHAKE_REQUIRED')).re).toBeUndefined();
    expect((await stranger.closed).code).toBe(4001);
    expect(stranger.unread()).toEqual([]);
  });
});
