/**
 * The lease heap (protocol/lease-heap.ts): leases expire in the order of their ends, a
 * moved lease keeps its one entry, and a removed one leaves the heap at once and never expires.
 */
import { LeaseHeap, type Lease } from '../protocol/lease-heap.js';

interface Item {
  name: number;
}

/** A heap whose expiries are collected; `expired(n)` resolves once n items expired. */
function collectingHeap() {
  const order: Item[] = [];
  let wanted = Infinity;
  let done: () => void = () => {};
  const heap = new LeaseHeap<Item>((item) => {
    order.push(item);
    if (order.length >= wanted) done();
  });
  const expired = (n: number) =>
    new Promise<Item[]>((resolve) => {
      wanted = n;
      done = () => resolve(order);
      if (order.length >= n) done();
    });
  return { heap, order, expired };
}

test('a renewal moves the one entry: renewed 10,000 times, the heap still holds one', () => {
  const { heap } = collectingHeap();
  const item = { name: 1 };
  const lease = heap.add(item, Date.now() + 3_600_000)!;
  let moved = 0;
  for (let n = 0; n < 10_000; n++) if (heap.move(lease, Date.now() + 3_600_000 + (n % 7) * 1_000 - 3_000)) moved++;
  expect(moved).toBe(10_000);
  expect(heap.size).toBe(1);
  heap.remove(lease);
  expect(heap.size).toBe(0);
  expect(heap.move(lease, Date.now())).toBe(false); // gone: the owner adds it again if it wants
  heap.remove(lease); // removing twice does nothing
  expect(heap.size).toBe(0);
  heap.stop();
});

test('no lease for an item that never ends', () => {
  const { heap } = collectingHeap();
  expect(heap.add({ name: 1 }, Infinity)).toBeUndefined();
  expect(heap.size).toBe(0);
});

test('moved and removed leases in a random mix: the rest expire once each, in order of their ends (seeded run)', async () => {
  const { heap, expired } = collectingHeap();
  let seed = 8;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const now = Date.now();
  // Ends in the past, so the first timer expires every lease left; all changes happen before it.
  const live = new Map<Item, Lease<Item>>();
  for (let n = 0; n < 3_000; n++) {
    const r = random();
    const items = [...live.keys()];
    if (r < 0.5 || items.length === 0) {
      const item = { name: n };
      live.set(item, heap.add(item, now - 1 - Math.floor(random() * 100_000))!);
    } else if (r < 0.75) {
      const item = items[Math.floor(random() * items.length)]!;
      expect(heap.move(live.get(item)!, now - 1 - Math.floor(random() * 100_000))).toBe(true);
    } else {
      const item = items[Math.floor(random() * items.length)]!;
      heap.remove(live.get(item)!);
      live.delete(item);
    }
    expect(heap.size).toBe(live.size);
  }
  const order = await expired(live.size);
  expect(new Set(order)).toEqual(new Set(live.keys()));
  const ends = order.map((item) => live.get(item)!.at);
  expect(ends).toEqual([...ends].sort((a, b) => a - b));
  expect(heap.size).toBe(0);
  heap.stop();
});

test('a lease moved later than the armed timer expires at its new end, not at the old one', async () => {
  const { heap, order, expired } = collectingHeap();
  const soon = { name: 1 };
  const later = { name: 2 };
  const lease = heap.add(soon, Date.now() - 1)!;
  heap.add(later, Date.now() + 30);
  heap.move(lease, Date.now() + 60);
  // The timer armed for `soon` found nothing due and waited for `later`. Only the order is
  // checked: on a loaded machine both ends may have passed by the time the timer runs.
  await expired(2);
  expect(order).toEqual([later, soon]);
  heap.stop();
});
