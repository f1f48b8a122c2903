/**
 * The store's own MessagePack writer (server/store/value-packer.ts): what it packs, msgpackr
 * reads back as the value msgpackr's own packing gives, for every shape the cores store and the
 * edges of each format; what it does not handle goes to msgpackr.
 */
import { Packr } from 'msgpackr';
import { ValuePacker } from '../server/store/value-packer.js';

const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, int64AsType: 'auto' as 'number', copyBuffers: false });
const roundTrip = (packer: ValuePacker, value: unknown): unknown => packr.unpack(packer.pack(value));
const viaMsgpackr = (value: unknown): unknown => packr.unpack(packr.pack(value));

const NUMBERS = [
  0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 2 ** 32, 2 ** 53 - 1, 1_733_390_000_123,
  -1, -0x20, -0x21, -0x80, -0x81, -0x8000, -0x8001, -(2 ** 31), -(2 ** 31) - 1, -0, 0.5, -1.25, 1e300, NaN, Infinity, -Infinity,
];
const STRINGS = ['', 'a', 'x'.repeat(31), 'x'.repeat(32), 'y'.repeat(255), 'y'.repeat(256), 'z'.repeat(70_000), 'é', 'orders.€.😀', '\u0000'];
const BINARIES = [0, 1, 255, 256, 65_535, 65_536, 200_000].map((n) => Uint8Array.from({ length: n }, (_, i) => i & 0xff));

test('numbers, strings, binaries and the other scalars read back as msgpackr packs them', () => {
  const packer = new ValuePacker(packr);
  for (const value of [...NUMBERS, ...STRINGS, true, false, null]) expect(roundTrip(packer, value)).toEqual(viaMsgpackr(value));
  for (const bytes of BINARIES) expect(Array.from(roundTrip(packer, bytes) as Uint8Array)).toEqual(Array.from(bytes));
  expect(roundTrip(packer, undefined)).toBeNull();
  // A lone surrogate becomes U+FFFD, as Buffer's UTF-8 makes it (msgpackr's own writer differs by length).
  expect(roundTrip(packer, 'a\ud800b')).toBe('a\ufffdb');
  expect(Array.from(roundTrip(packer, Buffer.from('abc')) as Uint8Array)).toEqual([97, 98, 99]);
});

test('the records the cores store read back whole, nested objects and missing fields too', () => {
  const packer = new ValuePacker(packr);
  const records: unknown[] = [
    { mid: 'Jlf5w12', topic: 'orders.eu', data: Uint8Array.of(0x93, 1, 2, 3), publishedAt: 1_733_390_000_123, expiresAt: null, deliveries: 0 },
    { mid: 'm', topic: 't', data: new Uint8Array(0), publishedAt: 1, expiresAt: 1_733_390_060_000, deliveries: 3, hdr: { trace: 'abc', 'é': '😀' } },
    { count: 0, bytes: 0 }, { count: 123_456, bytes: 2 ** 40, delivered: 99 },
    { name: 'q', pattern: null, config: { ackWait: 30_000, maxInFlight: 1_000, maxDeliveries: 5, maxMessages: 1_000_000, maxBytes: 268_435_456, overflow: 'reject' }, createdAt: 1_733_390_000_000, firstSeq: 7 },
    Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
    { skipped: undefined, kept: 1 },
  ];
  for (const value of records) {
    const back = roundTrip(packer, value) as Record<string, unknown>;
    expect(back).toEqual(viaMsgpackr(value));
    if ((value as { data?: Uint8Array }).data) expect(Array.from(back.data as Uint8Array)).toEqual(Array.from((value as { data: Uint8Array }).data));
  }
});

test('earlier packs stay intact as later ones fill and outgrow the chunk', () => {
  const packer = new ValuePacker(packr);
  const values = Array.from({ length: 600 }, (_, i) => ({ seq: i, data: new Uint8Array(i % 7 === 0 ? 70_000 : 40).fill(i & 0xff) }));
  const packed = values.map((v) => packer.pack(v));
  packed.forEach((bytes, i) => {
    const back = packr.unpack(bytes) as { seq: number; data: Uint8Array };
    expect(back.seq).toBe(i);
    expect(back.data.length).toBe(values[i]!.data.length);
    expect(back.data.every((b) => b === (i & 0xff))).toBe(true);
  });
});

test('shapes it does not write itself go to msgpackr', () => {
  const packer = new ValuePacker(packr);
  const others: unknown[] = [[1, 'a'], { list: [1, 2] }, { a: { b: { c: { d: 1 } } } }, new Map([['a', 1]]), { when: new Date(0) }, 2n ** 40n];
  for (const value of others) expect(roundTrip(packer, value)).toEqual(viaMsgpackr(value));
});
