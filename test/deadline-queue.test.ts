/**
 * server/deadline-queue.ts: one timer for many deadlines of the same delay (the broker's
 * handshake deadlines and refusal graces). Real time, short delays; the waits are for
 * conditions, and the bounds only say "not before the deadline".
 */
import { DeadlineQueue } from '../server/deadline-queue.js';
import { until } from './helpers/setup.js';

const DELAY = 60;

test('each entry expires once, no earlier than its own deadline, in the order added', async () => {
  const expired: { entry: string; late: number }[] = [];
  const added = new Map<string, number>();
  const queue = new DeadlineQueue<string>(DELAY, (entry) => expired.push({ entry, late: Date.now() - added.get(entry)! - DELAY }));
  for (const entry of ['a', 'b', 'c']) {
    added.set(entry, Date.now());
    queue.add(entry);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await until(() => expired.length === 3);
  expect(expired.map((e) => e.entry)).toEqual(['a', 'b', 'c']);
  for (const e of expired) expect(e.late).toBeGreaterThanOrEqual(-1); // Date.now() and timers may differ by a millisecond
  expect(queue.size).toBe(0);
});

test('an entry deleted before its deadline never expires; the others still do', async () => {
  const expired: string[] = [];
  const queue = new DeadlineQueue<string>(DELAY, (entry) => expired.push(entry));
  queue.add('first');
  queue.add('second');
  queue.delete('first');
  await until(() => expired.length === 1);
  expect(expired).toEqual(['second']);
  queue.add('third');
  queue.delete('third');
  expect(queue.size).toBe(0);
  // A later entry still gets its own deadline once the queue was emptied.
  queue.add('fourth');
  await until(() => expired.length === 2);
  expect(expired).toEqual(['second', 'fourth']);
});

test('an entry added by the expiry of another gets a full delay of its own', async () => {
  const expired: { entry: string; at: number }[] = [];
  let readdedAt = 0;
  const queue = new DeadlineQueue<string>(DELAY, (entry) => {
    expired.push({ entry, at: Date.now() });
    if (entry === 'a') {
      readdedAt = Date.now();
      queue.add('again');
    }
  });
  queue.add('a');
  queue.add('b');
  await until(() => expired.length === 3);
  expect(expired.map((e) => e.entry)).toEqual(['a', 'b', 'again']);
  expect(expired[2]!.at - readdedAt).toBeGreaterThanOrEqual(DELAY - 1);
});

test('stop() forgets every entry', async () => {
  const expired: string[] = [];
  const queue = new DeadlineQueue<string>(DELAY, (entry) => expired.push(entry));
  queue.add('x');
  queue.stop();
  expect(queue.size).toBe(0);
  // A witness on a queue of its own: once it expired, x's deadline has long passed too.
  const witness = new DeadlineQueue<string>(DELAY * 2, (entry) => expired.push(entry));
  witness.add('witness');
  await until(() => expired.length > 0);
  expect(expired).toEqual(['witness']);
});
