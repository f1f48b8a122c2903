/**
 * Tuples and templates nested far beyond the 32-level limit (protocol.md §10.2, §10.4) get the
 * typed error naming the field, in both codecs and in every frame that carries one (`out`, `rd`,
 * `count`, `notify`, batch steps), never INTERNAL_ERROR; the connection and the broker go on.
 */
import { packr } from '../protocol/codec.js';
import type { CodecName } from '../protocol/version.js';
import { rawClients, type RawClient } from './helpers/raw-client.js';
import { testBroker } from './helpers/setup.js';

// One broker for the file: every test checks that its connection goes on, and so does the broker.
const t = testBroker();
const raw = rawClients();
beforeAll(() => t.start());
afterEach(() => raw.closeAll());
afterAll(() => t.cleanup());

/** Stands in the message for the deep value, which the encoders could not write themselves. */
const MARK = '@@deep@@';

/** Sends `message` with MARK replaced by `depth` arrays nested in one another around the number 1. */
function sendDeep(c: RawClient, message: object, depth: number): void {
  if (c.codec === 'json') {
    c.sendRaw(JSON.stringify(message).replace(JSON.stringify(MARK), '['.repeat(depth) + '1' + ']'.repeat(depth)), false);
    return;
  }
  const bytes = packr.pack(message);
  const mark = packr.pack(MARK);
  const at = bytes.indexOf(mark);
  // 0x91: an array of one element.
  const deep = Buffer.concat([Buffer.alloc(depth, 0x91), Buffer.from([1])]);
  c.sendRaw(Buffer.concat([bytes.subarray(0, at), deep, bytes.subarray(at + mark.length)]), true);
}

/** The field path of the first level too deep: field 0 of the tuple, then 31 more levels. */
const TOO_DEEP_FIELD = ['0', ...Array.from({ length: 31 }, () => '0')].join('.');

/** Frames carrying the deep value, and the error each must get. */
const FRAMES: [string, (id: number) => object, string, object][] = [
  ['out', (id) => ({ t: 'out', id, space: 's', tuple: [MARK], ack: 'submission' }), 'INVALID_TUPLE', { field: TOO_DEEP_FIELD }],
  ['rd', (id) => ({ t: 'rd', id, space: 's', template: [MARK], wait: false }), 'INVALID_TEMPLATE', { field: TOO_DEEP_FIELD }],
  ['in', (id) => ({ t: 'in', id, space: 's', template: [MARK], timeout: 10 }), 'INVALID_TEMPLATE', { field: TOO_DEEP_FIELD }],
  ['count', (id) => ({ t: 'count', id, space: 's', template: [MARK] }), 'INVALID_TEMPLATE', { field: TOO_DEEP_FIELD }],
  ['notify', (id) => ({ t: 'notify', id, nid: 1, space: 's', template: [MARK] }), 'INVALID_TEMPLATE', { field: TOO_DEEP_FIELD }],
  ['batch out', (id) => ({ t: 'batch', id, space: 's', steps: [{ op: 'out', tuple: [MARK] }] }), 'INVALID_TUPLE', { field: TOO_DEEP_FIELD, step: 0 }],
  ['batch rdp', (id) => ({ t: 'batch', id, space: 's', steps: [{ op: 'out', tuple: ['x'] }, { op: 'rdp', template: [MARK] }] }), 'INVALID_TEMPLATE', { field: TOO_DEEP_FIELD, step: 1 }],
];

// msgpackr's recursive decoder overflows Node's stack a few thousand levels down; the codec then
// decodes the frame cut short (protocol/msgpack-depth.ts), so 10,000 levels get the typed error too.
const CASES: [CodecName, number][] = [
  ['json', 3_000], ['json', 10_000], ['msgpack', 33], ['msgpack', 3_000], ['msgpack', 10_000], ['msgpack', 100_000], ['json', 33],
];

describe.each(CASES)('%s, nested %i deep', (codec, depth) => {
  test.each(FRAMES)('%s gets its typed error naming the field', async (_name, frame, code, details) => {
    const c = await raw.connect(t.broker.url, codec);
    const id = c.id();
    sendDeep(c, frame(id), depth);
    const err = await c.reply(id);
    expect(err).toMatchObject({ t: 'err', re: id, code, details });
    expect(err.message).toMatch(/nests deeper than 32 levels$/);
    await c.sync(); // the connection goes on
    const lease = await c.call({ t: 'out', id: c.id(), space: 's', tuple: ['fine', [[['nested']]]], ack: 'submission' });
    expect(lease.t).toBe('lease');
  });
});

test('32 levels with binary at the bottom are fine on JSON, as on MessagePack', async () => {
  const json = await raw.connect(t.broker.url, 'json');
  const msgpack = await raw.connect(t.broker.url, 'msgpack');
  let jsonValue: unknown = { $bin: 'AAEC' };
  let msgpackValue: unknown = Buffer.from([0, 1, 2]);
  for (let level = 0; level < 31; level++) {
    jsonValue = [jsonValue];
    msgpackValue = [msgpackValue];
  }
  const wrote = await json.call({ t: 'out', id: json.id(), space: 'bin', tuple: [jsonValue], ack: 'submission' });
  expect(wrote.t).toBe('lease');
  const found = await msgpack.call({ t: 'in', id: msgpack.id(), space: 'bin', template: [msgpackValue], wait: false });
  expect(found).toMatchObject({ t: 'tuple', tuple: [msgpackValue] });
});
