/**
 * Edges of the wire contract (issue 20): `hdr` and `ext` are maps whatever a MessagePack decoder
 * makes of their bytes (protocol.md §3.5), invalid UTF-8 in a JSON text frame is a DECODE_ERROR on
 * an open connection (§1.2), and a `frag` that carries an `id` gets its `err` with `re` (§2.1).
 */
import { packr } from '../protocol/codec.js';
import type { CodecName } from '../protocol/version.js';
import { protocolSuite } from './helpers/protocol-suite.js';

const { t, raw } = protocolSuite();

/** `message` encoded with one more field, `key`, whose value is the raw MessagePack `value`. */
function withRawField(message: Record<string, unknown>, key: string, value: number[]): Uint8Array {
  const packed = packr.pack({ ...message, [key]: null });
  // The field was packed last, as nil (0xc0): swap in the raw value.
  expect(packed[packed.length - 1]).toBe(0xc0);
  return Uint8Array.from([...packed.subarray(0, -1), ...value]);
}

describe('msgpack: hdr and ext are maps, not a timestamp or 0xc1', () => {
  const TIMESTAMP = [...packr.pack(new Date(0))];
  const C1 = [0xc1];

  test.each([['a timestamp', TIMESTAMP], ['the byte 0xc1', C1]])('hdr as %s -> INVALID_FRAME, nothing delivered or written', async (_name, value) => {
    const broker = await t.start();
    const c = await raw.connect(broker.url, 'msgpack');
    expect(await c.call({ t: 'sub', id: c.id(), sid: 1, pattern: 'h' })).toMatchObject({ t: 'ok' });
    c.sendRaw(withRawField({ t: 'pub', id: 1, topic: 'h', data: c.data(1), ack: 'submission' }, 'hdr', value), true);
    expect(await c.reply(1)).toMatchObject({ t: 'err', code: 'INVALID_FRAME', details: { t: 'pub', field: 'hdr' } });
    c.sendRaw(withRawField({ t: 'out', id: 2, space: 's', tuple: [1], ack: 'submission' }, 'hdr', value), true);
    expect(await c.reply(2)).toMatchObject({ t: 'err', code: 'INVALID_FRAME', details: { t: 'out', field: 'hdr' } });
    await c.sync();
    expect(c.unread()).toEqual([]);
    expect(await c.call({ t: 'count', id: c.id(), space: 's', template: [{ $any: true }] })).toMatchObject({ count: 0 });
  });

  test('an ext entry that is a timestamp -> INVALID_FRAME', async () => {
    const broker = await t.start();
    const c = await raw.open(broker.url, 'msgpack');
    c.sendRaw(withRawField({ t: 'hello', id: 1, v: 1 }, 'ext', [0x81, 0xa1, 0x78, ...TIMESTAMP]), true);
    expect(await c.reply(1)).toMatchObject({ t: 'err', code: 'INVALID_FRAME', details: { t: 'hello', field: 'ext.x' } });
  });
});

test('json: invalid UTF-8 in a text frame -> DECODE_ERROR, and the connection stays open', async () => {
  const broker = await t.start();
  const c = await raw.connect(broker.url, 'json');
  const text = Buffer.from('{"t":"ping","id":1}');
  c.sendRaw(Buffer.concat([text.subarray(0, 13), Buffer.from([0xff, 0xfe]), text.subarray(13)]), false);
  const err = await c.error('DECODE_ERROR');
  expect(err).not.toHaveProperty('re');
  await c.sync();
  expect(c.isClosed).toBe(false);
});

describe.each(['json', 'msgpack'] as CodecName[])('%s: a frag with an id', (codec) => {
  test('gets its err with re, like any message with an id', async () => {
    const broker = await t.start();
    const c = await raw.connect(broker.url, codec);
    const data = codec === 'msgpack' ? new Uint8Array(1) : 'x';
    c.send({ t: 'frag', id: 7, fid: 1, seq: 1, n: 2, data });
    expect(await c.error('FRAGMENT_OUT_OF_ORDER')).toMatchObject({ re: 7, details: { fid: 1 } });
    c.send({ t: 'frag', id: 8, seq: 0, n: 1, data });
    expect(await c.error('INVALID_FRAME')).toMatchObject({ re: 8 });
    // Without an id, still without re (§2.3).
    c.send({ t: 'frag', fid: 2, seq: 1, n: 2, data });
    expect(await c.error('FRAGMENT_OUT_OF_ORDER')).not.toHaveProperty('re');
  });
});
