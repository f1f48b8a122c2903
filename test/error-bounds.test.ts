/**
 * Errors are bounded (issue 20, protocol.md §12): an `err` echoes at most a short prefix of a bad
 * value, one frame gets at most 100 of them, and describing any value a decoder can make is a
 * typed error, never INTERNAL_ERROR.
 */
import { packr } from '../protocol/codec.js';
import { MAX_ECHO, MAX_ERROR_MESSAGE } from '../protocol/echo.js';
import type { CodecName } from '../protocol/version.js';
import { type RawClient, type Received } from './helpers/raw-client.js';
import { protocolSuite } from './helpers/protocol-suite.js';

const { t, raw } = protocolSuite();

const CODECS: CodecName[] = ['json', 'msgpack'];
const LONG = 100_000;

/** An err small whatever it echoes: a short message, and details whose strings are short. */
function expectBounded(err: Received): void {
  expect(err.t).toBe('err');
  expect(err.message.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE);
  for (const value of Object.values(err.details ?? {})) {
    if (typeof value === 'string') expect(value.length).toBeLessThanOrEqual(MAX_ECHO);
  }
  expect(JSON.stringify(err).length).toBeLessThan(1_000);
}

/** Every err that arrived before a ping's pong. */
async function errorsUntilSynced(c: RawClient): Promise<Received[]> {
  await c.sync();
  const errs: Received[] = [];
  for (let e = c.poll((m) => m.t === 'err'); e; e = c.poll((m) => m.t === 'err')) errs.push(e);
  return errs;
}

describe.each(CODECS)('%s', (codec) => {
  test('a long bad value comes back as a short prefix, in message and details', async () => {
    const broker = await t.start();
    const c = await raw.connect(broker.url, codec);
    const cases: [object, string][] = [
      [{ t: 'pub', id: 1, topic: 'a b' + 'x'.repeat(LONG), data: c.data(1), ack: 'submission' }, 'INVALID_TOPIC'],
      [{ t: 'sub', id: 2, sid: 1, pattern: 'a..' + 'x'.repeat(LONG) }, 'INVALID_PATTERN'],
      [{ t: 'x'.repeat(LONG), id: 3 }, 'UNKNOWN_FRAME_TYPE'],
      [{ t: 'ping', id: 4, ['k'.repeat(LONG)]: 1 }, 'INVALID_FRAME'],
      [{ t: 'frag', id: 5, fid: 'f'.repeat(LONG), seq: 0, n: 1, data: c.data(1) }, 'INVALID_FRAME'],
      [{ t: 'in', id: 6, space: 's', template: [{ ['$' + 'o'.repeat(LONG)]: 1 }] }, 'INVALID_TEMPLATE'],
    ];
    for (const [i, [message, code]] of cases.entries()) {
      c.send(message);
      const err = await c.error(code);
      expect(err.re).toBe(i + 1);
      expectBounded(err);
    }
  });

  test('one frame gets at most 100 errs; one more says the rest of it was skipped', async () => {
    const broker = await t.start();
    const c = await raw.connect(broker.url, codec);
    c.send([...Array.from({ length: 150 }, () => ({})), { t: 'out', space: 'skipped', tuple: [1] }, ...Array.from({ length: 5_000 }, () => ({}))]);
    const errs = await errorsUntilSynced(c);
    expect(errs).toHaveLength(101);
    expect(errs.slice(0, 100).every((e) => e.code === 'UNKNOWN_FRAME_TYPE')).toBe(true);
    expect(errs[100]).toMatchObject({ code: 'TOO_MANY_ERRORS', details: { errors: 100, skipped: 5_051 } });
    expect(errs[100]).not.toHaveProperty('re');
    // Skipped means not handled: the out after the 100th error wrote nothing.
    const counted = await c.call({ t: 'count', id: c.id(), space: 'skipped', template: [{ $any: true }] });
    expect(counted).toMatchObject({ count: 0 });
    // The cap is per frame: the next one is handled as usual.
    c.send([{}, { t: 'out', space: 'skipped', tuple: [2] }, {}]);
    expect((await errorsUntilSynced(c)).map((e) => e.code)).toEqual(['UNKNOWN_FRAME_TYPE', 'UNKNOWN_FRAME_TYPE']);
    expect(await c.call({ t: 'count', id: c.id(), space: 'skipped', template: [{ $any: true }] })).toMatchObject({ count: 1 });
  });
});

describe('a `t` that is not a string is UNKNOWN_FRAME_TYPE, never INTERNAL_ERROR', () => {
  const DEEP = 10_000;

  test('json: an object with __proto__ and toString keys, an array nested 10,000 deep', async () => {
    const broker = await t.start();
    const c = await raw.connect(broker.url, 'json');
    c.sendRaw('{"t":{"__proto__":{"x":1},"toString":2,"valueOf":3},"id":1}', false);
    c.sendRaw(`{"id":2,"t":${'['.repeat(DEEP)}${']'.repeat(DEEP)}}`, false);
    for (const id of [1, 2]) {
      const err = await c.reply(id);
      expect(err).toMatchObject({ t: 'err', code: 'UNKNOWN_FRAME_TYPE' });
      expectBounded(err);
    }
  });

  test('msgpack: uint64 0xffffffffffffffff, int64, an object with toString keys, an array nested 3,000 deep', async () => {
    const broker = await t.start();
    const c = await raw.connect(broker.url, 'msgpack');
    const withT = (id: number, t: number[]) => Uint8Array.from([0x82, 0xa2, 0x69, 0x64, id, 0xa1, 0x74, ...t]);
    c.sendRaw(withT(1, [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), true);
    c.sendRaw(withT(2, [0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]), true);
    c.sendRaw(withT(3, [...packr.pack(JSON.parse('{"__proto__":{"x":1},"toString":2}'))]), true);
    // (msgpackr's decoder recurses: much deeper, the frame is a DECODE_ERROR before any `t` is read.)
    c.sendRaw(withT(4, [...new Array<number>(3_000).fill(0x91), 0x90]), true);
    const details: unknown[] = [];
    for (const id of [1, 2, 3, 4]) {
      const err = await c.reply(id);
      expect(err).toMatchObject({ t: 'err', code: 'UNKNOWN_FRAME_TYPE' });
      expectBounded(err);
      details.push(err.details.t);
    }
    expect(details.slice(0, 2)).toEqual(['18446744073709551615', '-9223372036854775808']);
  });
});
