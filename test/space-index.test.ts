/**
 * The tuple index (server/space/tuple-index.ts, ordered-bucket.ts) and the waiter index
 * (waiters.ts, waiter-queue.ts) against plain arrays doing the same by brute force, over long
 * random runs: takes, put-backs at the original position (as after a nack), compaction, lazy
 * type indexes, waiters filed under different fields.
 */
import type { Connection } from '../server/connection.js';
import { storedTuple, type StoredTuple } from '../server/space/stored-tuple.js';
import { compileTemplate, type Template } from '../server/space/template.js';
import { ArityIndex } from '../server/space/tuple-index.js';
import { WaiterIndex, type Waiter } from '../server/space/waiters.js';

/** A seeded generator, so a failure can be replayed. */
function random(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => Math.floor(((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * n);
}

const any = { $any: true };

/*
 * The random runs check tens of thousands of times: compared by hand first, because Jest's
 * expect() costs far more than the index under test (most of the suite's time went to it). On a
 * mismatch expect() runs as before, so a failure reads the same.
 */
function expectSame<T>(actual: T, expected: T): void {
  if (actual !== expected) expect(actual).toBe(expected);
}

function expectSeqs(actual: readonly { seq: number }[], expected: readonly { seq: number }[]): void {
  if (actual.length !== expected.length || actual.some((t, i) => t.seq !== expected[i]!.seq)) {
    expect(actual.map((t) => t.seq)).toEqual(expected.map((t) => t.seq));
  }
}

function randomValues(r: (n: number) => number): unknown[] {
  return [['a', 'b', 'c'][r(3)], r(6), r(2) === 0 ? r(4) : `s${r(4)}`];
}

function randomTemplate(r: (n: number) => number): unknown[] {
  const pick = (actual: () => unknown, type: string) => {
    switch (r(4)) {
      case 0: return actual();
      case 1: return { $type: type };
      case 2: return { $in: [actual(), actual()] };
      default: return any;
    }
  };
  return [pick(() => ['a', 'b', 'c'][r(3)], 'string'), pick(() => r(6), 'integer'), pick(() => (r(2) ? r(4) : `s${r(4)}`), r(2) ? 'string' : 'number')];
}

describe('ArityIndex', () => {
  // From step 3,000 on: each position's indexes are then built (lazily, on the first template
  // asking) over a long history of takes and put-backs, not beside the first few tuples.
  for (const [seed, checksFrom] of [[1, 0], [2, 0], [3, 0], [4, 3_000]] as const) {
    test(`random takes, put-backs and scans agree with brute force (seed ${seed}${checksFrom ? ', first template late' : ''})`, () => {
      const r = random(seed);
      const index = new ArityIndex(3);
      const live: StoredTuple[] = []; // in the index
      const out: StoredTuple[] = []; // taken under reservation, to be put back
      let seq = 0;
      const check = (template: unknown[]) => {
        const compiled: Template = compileTemplate(template);
        const expected = live.filter((t) => compiled.matches(t.values)).sort((a, b) => a.seq - b.seq);
        const got: StoredTuple[] = [];
        index.scan(compiled, 0, (t) => { got.push(t); });
        expectSeqs(got, expected);
        let first: StoredTuple | undefined;
        index.scan(compiled, 0, (t) => { first = t; return true; });
        expectSame(first?.seq, expected[0]?.seq);
      };
      for (let step = 0; step < 6_000; step++) {
        const op = r(10);
        if (op < 4 || live.length === 0) {
          const t = storedTuple(seq, (seq++).toString(36), 's', randomValues(r), Infinity);
          index.add(t);
          live.push(t);
        } else if (op < 6) {
          // Oldest first most of the time, as a queue drains; anywhere otherwise.
          const i = r(3) === 0 ? r(live.length) : live.indexOf(live.reduce((a, b) => (a.seq < b.seq ? a : b)));
          const [t] = live.splice(i, 1);
          index.remove(t!);
          if (r(2) === 0) out.push(t!);
        } else if (op < 7 && out.length > 0) {
          const [t] = out.splice(r(out.length), 1);
          index.add(t!);
          live.push(t!);
        } else if (step >= checksFrom) {
          check(randomTemplate(r));
        }
        expectSame(index.size, live.length);
      }
      // Drain most of it from anywhere: dead entries pile up in the middle until buckets compact.
      while (live.length > 100) {
        const [t] = live.splice(r(live.length), 1);
        index.remove(t!);
        if (r(4) === 0) out.push(t!);
        if (r(50) === 0) check(randomTemplate(r));
      }
      for (const t of out) {
        index.add(t);
        live.push(t);
      }
      for (let i = 0; i < 50; i++) check(randomTemplate(r));
      check([any, any, any]);
    });
  }
});

describe('WaiterIndex', () => {
  const conn = {} as Connection;
  for (const seed of [4, 5, 6]) {
    test(`every matching rd and the oldest matching in, as brute force finds them (seed ${seed})`, () => {
      const r = random(seed);
      const index = new WaiterIndex(3);
      let waiting: Waiter[] = [];
      let seq = 0;
      for (let step = 0; step < 6_000; step++) {
        const op = r(10);
        if (op < 5) {
          const template = compileTemplate(randomTemplate(r).map((e) => (typeof e === 'object' && e !== null && '$in' in e ? any : e)));
          const w: Waiter = {
            seq: seq++, space: 's', template, take: r(3) > 0, conn, requestId: seq, reserveMs: undefined, timer: undefined, queue: undefined,
          };
          index.add(w);
          waiting.push(w);
        } else if (op < 7 && waiting.length > 0) {
          const [w] = waiting.splice(r(waiting.length), 1);
          expectSame(index.remove(w!), true);
          expectSame(index.remove(w!), false);
        } else {
          const t = storedTuple(0, '0', 's', randomValues(r), Infinity);
          const matching = waiting.filter((w) => w.template.matches(t.values));
          expectSeqs(index.readersOf(t), matching.filter((w) => !w.take));
          const taker = index.takerOf(t);
          expectSame(taker?.seq, matching.find((w) => w.take)?.seq);
          // Serve as a handover does: the readers and the taker leave.
          for (const w of [...index.readersOf(t), ...(taker ? [taker] : [])]) index.remove(w);
          waiting = waiting.filter((w) => !(w.template.matches(t.values) && (!w.take || w === taker)));
        }
        expectSame(index.size, waiting.length);
      }
    });
  }
});
