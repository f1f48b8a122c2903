/**
 * `$regex` cannot stall the broker (protocol.md §10.3): patterns that make a backtracking engine
 * take exponential or polynomial time, matched against long strings, are answered at once, and
 * another connection's ping sent right after is answered too. Raw frames, in both codecs.
 */
import type { CodecName } from '../protocol/version.js';
import { compileTemplate, type Template } from '../server/space/template.js';
import { exposeGc, heapAfterGc } from './helpers/gc.js';
import { rawClients, type RawClient } from './helpers/raw-client.js';
import { sharedTestBroker } from './helpers/shared-brokers.js';

// One broker for the file: each test has spaces of its own.
const t = sharedTestBroker();
const raw = rawClients();
afterEach(async () => {
  await raw.closeAll();
  await t.cleanup();
});

/** Strings a backtracking engine chokes on with the patterns below. */
const SUBJECTS = [
  'a'.repeat(3_000),
  'a'.repeat(5_000) + '!',
  'x'.repeat(5_000),
  'word '.repeat(1_000) + '!',
];

/** All ways to split a run of a's, within the 256-character cap. */
const ALTERNATION = `^(${Array.from({ length: 20 }, (_, i) => 'a'.repeat(i + 1)).join('|')})+$`;

/** Pattern, and how many of SUBJECTS it matches. */
const ADVERSARIAL: [string, number][] = [
  ['a*a*c', 0], // polynomial: 4 s on 3,000 characters with RegExp
  ['a*a*a*a*a*a*a*a*a*a*a*a*b', 0], // exponential in the number of a*
  ['(a+)+$', 1], // nested quantifiers
  ['(a*)*b', 0],
  ['((((a*)*)*)*)*b', 0],
  ['(a|a)*b', 0], // overlapping alternatives
  ['(a|aa)+$', 1],
  ['(x+x+)+y', 0],
  ['^(\\w+\\s?)*$', 2],
  ['(.*a){12}', 2],
  [ALTERNATION, 1],
];

/** Every answer of this test must come well within this: far above the few ms each takes. */
const SANITY_MS = 10_000;

describe.each(['json', 'msgpack'] as CodecName[])('%s codec', (codec) => {
  test('adversarial patterns against long strings are answered, and so is a ping from another connection', async () => {
    const broker = await t.start();
    const writer = await raw.connect(broker.url, codec);
    const other = await raw.connect(broker.url, codec);
    for (const s of SUBJECTS) {
      const lease = await writer.call({ t: 'out', id: writer.id(), space: `redos-${codec}`, tuple: [s], ack: 'submission' });
      expect(lease.t).toBe('lease');
    }
    for (const [pattern, expected] of ADVERSARIAL) {
      const id = writer.id();
      const pingId = other.id();
      writer.send({ t: 'count', id, space: `redos-${codec}`, template: [{ $regex: pattern }] });
      other.send({ t: 'ping', id: pingId });
      // Had the count held the event loop, neither answer would come within the bound.
      expect(await other.reply(pingId, SANITY_MS)).toEqual({ t: 'pong', re: pingId });
      expect(await writer.reply(id, SANITY_MS)).toEqual({ t: 'counted', re: id, count: expected });
    }
  });

  test('a waiting in with such a pattern is served without stalling the writer', async () => {
    const broker = await t.start();
    const taker = await raw.connect(broker.url, codec);
    const writer = await raw.connect(broker.url, codec);
    const id = taker.id();
    taker.send({ t: 'in', id, space: `redos-waiting-${codec}`, template: [{ $regex: '(a|aa)+$' }] });
    await taker.sync(); // the in waits now
    for (const s of SUBJECTS) writer.send({ t: 'out', space: `redos-waiting-${codec}`, tuple: [s] });
    await writer.sync();
    expect(await taker.reply(id, SANITY_MS)).toMatchObject({ t: 'tuple', re: id, tuple: [SUBJECTS[0]] });
  });

  test('what RE2 leaves out is INVALID_TEMPLATE naming the field, with a reason', async () => {
    const broker = await t.start();
    const c = await raw.connect(broker.url, codec);
    const refusals: [string, RegExp][] = [
      ['(a)\\1', /backreferences/],
      ['a(?=b)', /lookahead and lookbehind/],
      ['(?<!a)b', /lookahead and lookbehind/],
      ['(', /not valid RE2 syntax: missing closing \)/],
      ['.{1000}', /too large/],
    ];
    for (const [pattern, reason] of refusals) {
      const id = c.id();
      const err = await c.call({ t: 'rd', id, space: 's', template: ['x', { $regex: pattern }], wait: false });
      expect(err).toMatchObject({ t: 'err', re: id, code: 'INVALID_TEMPLATE', details: { field: '1' } });
      expect(err.message).toMatch(reason);
    }
  });
});

test('a compiled pattern keeps a bounded DFA cache, however varied the strings it matched', () => {
  const gc = exposeGc();
  // Each a/b string of this pattern's language needs its own DFA state: unbounded, the cache
  // grows to re2js's default of 8 MiB per pattern (about 9 MB of heap).
  let subject = '';
  for (let i = 0, x = 7; i < 40_000; i++) subject += (x = (x * 1103515245 + 12345) % 2 ** 31) & 0x10000 ? 'a' : 'b';
  compileTemplate([{ $regex: '(a|b)*a(a|b){3}$' }]).matches([subject]); // warms up re2js itself
  const held: Template[] = [];
  const before = heapAfterGc(gc);
  for (let n = 0; n < 5; n++) {
    const template = compileTemplate([{ $regex: `(a|b)*a(a|b){${14 + n}}$` }]);
    template.matches([subject]);
    held.push(template);
  }
  const perTemplate = (heapAfterGc(gc) - before) / held.length;
  expect(perTemplate).toBeLessThan(1_000_000);
});
