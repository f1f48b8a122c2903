/**
 * The one suite every Store passes (DESIGN.md: "Store is an interface with three implementations
 * that pass one shared test suite"), then what only a store on disk promises: surviving a
 * reopen and a kill -9.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { types } from 'node:util';
import { LmdbStore } from '../server/store/lmdb-store.js';
import { MemoryStore } from '../server/store/memory-store.js';
import type { Key, Store, StoreWrite } from '../server/store/store.js';
import { ChildTracker } from './helpers/child-process.js';

interface Kind {
  name: string;
  open(dir: string): Promise<Store>;
}

const KINDS: Kind[] = [
  { name: 'MemoryStore', open: async () => new MemoryStore() },
  { name: 'LmdbStore', open: (dir) => LmdbStore.open(dir) },
];

let dir: string;
let opened: Store[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'linden-store-'));
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

const put = (key: Key, value: unknown): StoreWrite => ({ key, value });
const del = (key: Key): StoreWrite => ({ key });
const keys = (entries: Array<[Key, unknown]>) => entries.map(([k]) => k);

describe.each(KINDS)('$name', (kind) => {
  async function open(): Promise<Store> {
    const store = await kind.open(dir);
    opened.push(store);
    return store;
  }

  test('a put is read back by a scan; a second put replaces it', async () => {
    const store = await open();
    await store.write([put(['k', 1], { a: 1 })]);
    expect(await store.scan(['k'])).toEqual([[['k', 1], { a: 1 }]]);
    await store.write([put(['k', 1], 'again')]);
    expect(await store.scan(['k'])).toEqual([[['k', 1], 'again']]);
  });

  test('prefetch is a hint: keys present or not, reads after it see what is stored, binaries their own copies', async () => {
    const store = await open();
    await store.write([put(['m', 'q', 1], { data: Uint8Array.of(1, 2, 3) }), put(['m', 'q', 3], { data: Uint8Array.of(4) })]);
    store.prefetch([['m', 'q', 1], ['m', 'q', 2], ['m', 'q', 3], ['z', 9]]);
    store.prefetch([]);
    const read = store.range(['m', 'q']);
    expect(read.map(([k, v]) => [k, Array.from((v as { data: Uint8Array }).data)])).toEqual([[['m', 'q', 1], [1, 2, 3]], [['m', 'q', 3], [4]]]);
    // Read again after more reads: the first copy is not a view into memory the store reuses.
    store.range(['m', 'q']);
    expect(Array.from((read[0]![1] as { data: Uint8Array }).data)).toEqual([1, 2, 3]);
  });

  test('a delete removes the entry; deleting a missing key is no error', async () => {
    const store = await open();
    await store.write([put(['k', 1], 1), put(['k', 2], 2)]);
    await store.write([del(['k', 1]), del(['k', 99])]);
    expect(await store.scan(['k'])).toEqual([[['k', 2], 2]]);
  });

  test('keys come back in LMDB order: numbers by value before strings, strings by code point, prefixes first', async () => {
    const store = await open();
    const ordered: Key[] = [
      ['o', -5], ['o', -1.5], ['o', 0], ['o', 1], ['o', 1.5], ['o', 2], ['o', 10], ['o', 1e20],
      ['o', ''], ['o', 'A'], ['o', 'B'], ['o', 'a'], ['o', 'a', 1], ['o', 'a', 2], ['o', 'a', 'x'], ['o', 'a.b'], ['o', 'ab'],
      ['o', 'é'], ['o', '\uffff'], ['o', '😀'],
    ];
    const shuffled = [...ordered].sort(() => Math.random() - 0.5);
    await store.write(shuffled.map((k) => put(k, null)));
    expect(keys(await store.scan(['o']))).toEqual(ordered);
  });

  test('a prefix scan takes whole elements: ["m","q1"] does not reach ["m","q10",...]', async () => {
    const store = await open();
    await store.write([
      put(['m', 'q10', 0], 'q10/0'), put(['m', 'q1', 2], 'q1/2'), put(['m', 'q1', 1], 'q1/1'),
      put(['m', 'q1'], 'q1'), put(['m', 'q1', 'x', 3], 'deeper'), put(['m', 'q2', 0], 'q2/0'), put(['n', 'q1', 0], 'other'),
    ]);
    expect(await store.scan(['m', 'q1'])).toEqual([
      [['m', 'q1'], 'q1'], [['m', 'q1', 1], 'q1/1'], [['m', 'q1', 2], 'q1/2'], [['m', 'q1', 'x', 3], 'deeper'],
    ]);
    expect(keys(await store.scan(['m', 'q10']))).toEqual([['m', 'q10', 0]]);
    expect(keys(await store.scan(['m', 'q']))).toEqual([]);
    expect(keys(await store.scan(['m']))).toHaveLength(6);
    expect(keys(await store.scan([]))).toHaveLength(7);
    // Single-element keys keep their array shape.
    await store.write([put(['solo'], 1), put([7], 2)]);
    expect(keys(await store.scan(['solo']))).toEqual([['solo']]);
    expect(keys(await store.scan([7]))).toEqual([[7]]);
  });

  test('range() reads a piece of a prefix, from a point, up to a count, either way', async () => {
    const store = await open();
    await store.write([
      put(['m', 'q1'], 'q1'), ...[1, 2, 3, 5, 8].map((seq) => put(['m', 'q1', seq], seq)), put(['m', 'q10', 0], 'q10/0'), put(['m', 'q2', 0], 'q2/0'),
      put(['m', 'q1', 'x'], 'string above the numbers'),
    ]);
    const seqs = (entries: Array<[Key, unknown]>) => entries.map(([k]) => k[2]);
    expect(seqs(store.range(['m', 'q1']))).toEqual([undefined, 1, 2, 3, 5, 8, 'x']);
    expect(seqs(store.range(['m', 'q1'], { from: [3] }))).toEqual([3, 5, 8, 'x']);
    expect(seqs(store.range(['m', 'q1'], { from: [4], limit: 2 }))).toEqual([5, 8]);
    expect(store.range(['m', 'q1'], { from: [2], limit: 1 })).toEqual([[['m', 'q1', 2], 2]]);
    expect(seqs(store.range(['m', 'q1'], { reverse: true, limit: 2 }))).toEqual(['x', 8]);
    expect(seqs(store.range(['m', 'q1'], { reverse: true, from: [6] }))).toEqual([5, 3, 2, 1, undefined]);
    expect(seqs(store.range(['m', 'q1'], { reverse: true, from: [5], limit: 2 }))).toEqual([5, 3]);
    expect(store.range(['m', 'q1'], { from: [9], limit: 1 })).toEqual([[['m', 'q1', 'x'], 'string above the numbers']]);
    expect(store.range(['m', 'q1'], { limit: 0 })).toEqual([]);
    expect(store.range(['m', 'q3'], { reverse: true })).toEqual([]);
    expect(store.range(['m', 'q2'], { reverse: true })).toEqual([[['m', 'q2', 0], 'q2/0']]);
    expect(store.range(['m', 'q10'])).toEqual([[['m', 'q10', 0], 'q10/0']]);
  });

  test('get() reads one key; usedBytes() grows with what is stored and falls when it is deleted', async () => {
    const store = await open();
    const empty = store.usedBytes();
    const big = new Uint8Array(1024).fill(1);
    await store.write(Array.from({ length: 200 }, (_, i) => put(['g', i], { data: big })));
    expect(store.get(['g', 7])).toEqual({ data: expect.any(Uint8Array) });
    expect(store.get(['g', 700])).toBeUndefined();
    const full = store.usedBytes();
    expect(full - empty).toBeGreaterThanOrEqual(200 * 1024);
    await store.write(Array.from({ length: 200 }, (_, i) => del(['g', i])));
    expect(store.usedBytes()).toBeLessThan(full / 4);
  });

  test('the writes of one call apply together and in order; a bad key in a call applies none of it', async () => {
    const store = await open();
    await store.write([put(['a', 1], 1), del(['a', 1]), put(['a', 2], 2), put(['a', 2], 'last'), del(['a', 3]), put(['a', 3], 3)]);
    expect(await store.scan(['a'])).toEqual([[['a', 2], 'last'], [['a', 3], 3]]);
    expect(() => store.write([put(['a', 4], 4), put(['a', Number.NaN], 5)])).toThrow(RangeError);
    expect(await store.scan(['a'])).toEqual([[['a', 2], 'last'], [['a', 3], 3]]);
  });

  test('keys the LMDB encoding cannot keep exactly are refused', async () => {
    const store = await open();
    for (const bad of [[], ['x', Infinity], ['a\u0000b'], ['x'.repeat(80) + '\u0001'], ['lone \ud800'], ['x'.repeat(2000)], [{}], [null]]) {
      expect(() => store.write([put(bad as unknown as Key, 1)])).toThrow(RangeError);
    }
    await store.write([put(['x'.repeat(600), 'é'.repeat(300)], 1)]); // 1,803 bytes: fits
    expect(await store.scan([])).toHaveLength(1);
  });

  test('binary values come back as bytes, alone and nested; other values keep their types', async () => {
    const store = await open();
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    const value = { data: bytes, list: [new Uint8Array([9, 8]), 'text', 1.5, -3, null, true], big: 2n ** 60n, small: 42 };
    await store.write([put(['b', 1], bytes), put(['b', 2], value)]);
    const [[, alone], [, nested]] = (await store.scan(['b'])) as Array<[Key, any]>;
    expect(types.isUint8Array(alone)).toBe(true);
    expect(Buffer.from(alone as Uint8Array)).toEqual(bytes);
    expect(types.isUint8Array(nested.data) && types.isUint8Array(nested.list[0])).toBe(true);
    expect([...nested.data]).toEqual([...bytes]);
    expect([...nested.list[0]]).toEqual([9, 8]);
    expect(nested.list.slice(1)).toEqual(['text', 1.5, -3, null, true]);
    expect([nested.big, nested.small]).toEqual([2n ** 60n, 42]);
  });

  test('overlapping writes land in the order issued, even within one tick', async () => {
    const store = await open();
    const pending = [
      store.write([put(['w', 1], 'first')]),
      store.write([del(['w', 1])]),
      store.write([put(['w', 2], 'first')]),
      store.write([put(['w', 2], 'second')]),
      store.write([del(['w', 3])]),
      store.write([put(['w', 3], 'after delete')]),
    ];
    await Promise.all(pending);
    expect(await store.scan(['w'])).toEqual([[['w', 2], 'second'], [['w', 3], 'after delete']]);
  });

  test('many concurrent writes all resolve and all land', async () => {
    const store = await open();
    const value = { pad: 'p'.repeat(200) };
    await Promise.all(Array.from({ length: 512 }, (_, i) => store.write([put(['c', i], { ...value, i })])));
    const found = await store.scan(['c']);
    expect(found.map(([k]) => k[1])).toEqual(Array.from({ length: 512 }, (_, i) => i));
  });

  test('a closed store refuses writes', async () => {
    const store = await open();
    await store.close();
    expect(() => store.write([put(['x'], 1)])).toThrow(/closed/);
  });
});

describe('MemoryStore', () => {
  test('is not durable and applies writes at once', async () => {
    const store = new MemoryStore();
    expect(store.durable).toBe(false);
    expect(store.write([put(['x'], 1)])).toBeUndefined();
    expect(await store.scan(['x'])).toEqual([[['x'], 1]]);
  });
});

describe('LmdbStore', () => {
  test('is durable: write() returns a promise, and the data survives close and reopen', async () => {
    const folder = join(dir, 'nested', 'data'); // open() creates the folder
    const store = await LmdbStore.open(folder);
    expect(store.durable).toBe(true);
    const written = store.write([put(['r', 1], { a: Buffer.from('hi') }), put(['r', 2], 'two')]);
    expect(typeof written?.then).toBe('function'); // not toBeInstanceOf: under jest the promise may come from another realm
    store.write([del(['r', 2])]); // not awaited: close() waits for it
    await store.close();
    const again = await LmdbStore.open(folder);
    opened.push(again);
    const found = await again.scan(['r']);
    expect(keys(found)).toEqual([['r', 1]]);
    expect(Buffer.from((found[0]![1] as { a: Uint8Array }).a).toString()).toBe('hi');
  });

  test('every write acknowledged before a kill -9 is in the store afterwards, and whole', async () => {
    const children = new ChildTracker();
    try {
      const writer = children.spawn(fileURLToPath(new URL('./helpers/store-writer.mjs', import.meta.url)), [dir]);
      // Kill at a random point once a few hundred writes were acknowledged.
      const target = 200 + Math.floor(Math.random() * 800);
      await writer.line('stdout', String(target));
      writer.child.kill('SIGKILL');
      const exit = await writer.exited;
      expect(exit.signal).toBe('SIGKILL');
      const acknowledged = exit.stdout.split('\n').slice(0, -1).map(Number); // only complete lines
      expect(acknowledged.length).toBeGreaterThan(target);

      const store = await LmdbStore.open(dir);
      opened.push(store);
      const stored = new Set((await store.scan(['crash'])).map(([k]) => k[1]));
      expect(acknowledged.filter((n) => !stored.has(n))).toEqual([]);
      // Each write() wrote a pair in one transaction: never one half without the other.
      const pairs = new Set((await store.scan(['pair'])).map(([k]) => k[1]));
      expect([...stored].filter((n) => !pairs.has(n))).toEqual([]);
      expect([...pairs].filter((n) => !stored.has(n))).toEqual([]);
    } finally {
      await children.killAll();
    }
  });
});
