import { ExpiryHeap } from '../server/pubsub/durable/expiry-heap.js';

test('fires due entries earliest first, never a cancelled one, and holds only what is pending (seeded random run)', async () => {
  let seed = 7;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const fired: number[] = [];
  let done!: () => void;
  const allFired = new Promise<void>((resolve) => { done = resolve; });
  const heap = new ExpiryHeap<number>((at) => {
    fired.push(at);
    if (heap.size === 0) done();
  });
  // Deadlines already passed: the first timer (0 ms) fires them all, in one turn.
  const past = Date.now() - 1_000_000;
  const pending = new Map<number, ReturnType<typeof heap.add>>();
  for (let i = 0; i < 5_000; i++) {
    if (random() < 0.7 || pending.size === 0) {
      const at = past + Math.floor(random() * 100_000) * 10 + (i % 10); // distinct
      if (!pending.has(at)) pending.set(at, heap.add(at, at));
    } else {
      const [at, entry] = [...pending][Math.floor(random() * pending.size)]!;
      heap.cancel(entry);
      heap.cancel(entry); // twice: nothing more
      pending.delete(at);
    }
    expect(heap.size).toBe(pending.size);
  }
  await allFired;
  expect(fired).toEqual([...pending.keys()].sort((a, b) => a - b));
  heap.stop();
});
