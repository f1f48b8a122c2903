import type { QueuedMessage } from '../server/pubsub/durable/queue-records.js';
import { ReadyLine } from '../server/pubsub/durable/ready-line.js';
import { SeqHeap, type HeapItem } from '../server/pubsub/durable/seq-heap.js';

/*
 * The random runs check tens of thousands of times: compared by hand first, because Jest's
 * expect() costs far more than the heap under test. On a mismatch expect() runs as before, so a
 * failure reads the same.
 */
function expectSame<T>(actual: T, expected: T): void {
  if (actual !== expected) expect(actual).toBe(expected);
}

test('pops in seq order whatever is pushed and removed from the middle (seeded random run)', () => {
  let seed = 42;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const heap = new SeqHeap<HeapItem>();
  const model = new Set<HeapItem>();
  for (let step = 0; step < 20_000; step++) {
    const r = random();
    if (r < 0.5 || model.size === 0) {
      const item: HeapItem = { seq: Math.floor(random() * 1_000_000) };
      heap.push(item);
      model.add(item);
    } else if (r < 0.75) {
      const victim = [...model][Math.floor(random() * model.size)]!;
      expectSame(heap.remove(victim), true);
      expectSame(heap.remove(victim), false);
      model.delete(victim);
    } else {
      const top = heap.pop()!;
      expectSame(top.seq, Math.min(...[...model].map((i) => i.seq)));
      model.delete(top);
    }
    expectSame(heap.size, model.size);
  }
});

test('a ReadyLine keeps the total of its payload bytes through push, pop, remove and clear', () => {
  let seed = 9;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const line = new ReadyLine();
  const model = new Set<QueuedMessage>();
  const sum = () => [...model].reduce((n, m) => n + m.data.length, 0);
  for (let step = 0; step < 5_000; step++) {
    const r = random();
    if (r < 0.5 || model.size === 0) {
      const m: QueuedMessage = { seq: step, mid: String(step), topic: 't', data: new Uint8Array(Math.floor(random() * 100)), publishedAt: 0, expiresAt: Infinity, deliveries: 0 };
      line.push(m);
      model.add(m);
    } else if (r < 0.7) {
      const victim = [...model][Math.floor(random() * model.size)]!;
      line.remove(victim);
      line.remove(victim);
      model.delete(victim);
    } else if (r < 0.995) {
      model.delete(line.pop()!);
    } else {
      line.clear();
      model.clear();
    }
    expectSame(line.bytes, sum());
  }
});
