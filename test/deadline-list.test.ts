import { DeadlineList, type Due } from '../server/pubsub/durable/deadline-list.js';

interface Entry extends Due {
  name: string;
}

const entry = (name: string): Entry => ({ name, at: 0, prev: undefined, next: undefined, listed: false });

/** Collects what comes due until `count` have; resolves with their names in order. */
function collect(count: number): { list: DeadlineList<Entry>; done: Promise<string[]> } {
  const seen: string[] = [];
  let finish!: (names: string[]) => void;
  const done = new Promise<string[]>((resolve) => { finish = resolve; });
  const list = new DeadlineList<Entry>((e) => {
    seen.push(e.name);
    if (seen.length === count) finish(seen);
  });
  return { list, done };
}

test('entries come due in deadline order, one added earlier than the tail included', async () => {
  const { list, done } = collect(3);
  const now = Date.now();
  list.add(entry('a'), now + 30);
  list.add(entry('c'), now + 60);
  list.add(entry('b'), now + 40); // before the tail: an ackWait lowered
  expect(await done).toEqual(['a', 'b', 'c']);
});

test('a removed entry never comes due; the timer sleeps on to the next head', async () => {
  const { list, done } = collect(2);
  const now = Date.now();
  const head = entry('head');
  list.add(head, now + 10);
  list.add(entry('x'), now + 20);
  list.add(entry('y'), now + 30);
  list.remove(head);
  list.remove(head); // twice is harmless
  expect(await done).toEqual(['x', 'y']);
});

test('an entry moved to a later deadline (working()) comes due then, after the others', async () => {
  const { list, done } = collect(2);
  const now = Date.now();
  const a = entry('a');
  list.add(a, now + 10);
  list.add(entry('b'), now + 20);
  list.remove(a);
  list.add(a, now + 40);
  expect(await done).toEqual(['b', 'a']);
});
