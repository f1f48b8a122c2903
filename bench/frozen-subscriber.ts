import { spawnBroker } from './spawn-broker.js';
import { brokerMemory, connectionsOf, flood, round, steady, StreamPublisher, StreamSubscriber, type StreamFigures } from './streams.js';

export interface FrozenSubscriberResult {
  subscribers: number;
  payloadBytes: number;
  maxPendingBytes: number;
  /** The publisher as fast as the slowest normal subscriber allows (a window of messages ahead). */
  throughput: { messages: number; without: StreamFigures; with: StreamFigures; rateRatio: number; p99Ratio: number };
  /** The publisher at a steady rate, well under the broker's capacity. */
  steady: { messagesPerSecond: number; seconds: number; without: StreamFigures; with: StreamFigures; rateRatio: number; p99Ratio: number };
  /** What the broker held for the frozen subscriber at the end of the runs with it. */
  frozen: { pendingBytes: number; stalledMs: number; dropped: number };
  broker: { rssMiB: number; heapMiB: number };
}

const TOPIC = 'bench.frozen';
const MAX_PENDING = 8 * 1024 * 1024;
/** 256 B payloads: frames of 200 stay near 60 KiB; 2,000 ahead is 0.5 MiB, far under the budget. */
const PACE = { frameMessages: 200, window: 2_000 };

/**
 * Issue 13: "one frozen subscriber among many must not lower the others' delivery rate or raise
 * their p99 by more than 20%". A broker in a child process with the default maxPendingBytes,
 * `subscribers` raw subscribers that read, and a raw publisher, all in this process. Each round
 * measures them without and then with one more subscriber whose socket is paused from the start
 * (frozen: TCP fills, then the broker's buffer for it passes maxPendingBytes and every delivery
 * to it is dropped); the broker's writeDeadlineMs is long, so the frozen one stays for the whole
 * run, the worst case. Two measures: the most the publisher can push through (a window of
 * messages ahead of the slowest subscriber) and a steady rate well under it (latency). The best
 * of `rounds` rounds of each, so another process's burst on this machine counts less; every
 * other round measures with the frozen subscriber first.
 */
export async function frozenSubscriber(options: { subscribers?: number; messages?: number; messagesPerSecond?: number; seconds?: number; rounds?: number } = {}): Promise<FrozenSubscriberResult> {
  const { subscribers = 4, messages = 200_000, messagesPerSecond = 10_000, seconds = 3, rounds = 4 } = options;
  const payloadBytes = 256;
  const broker = await spawnBroker({ maxPendingBytes: MAX_PENDING, writeDeadlineMs: 3_600_000 });
  try {
    const publisher = await StreamPublisher.open(broker.url, 'bench-frozen-pub', TOPIC, payloadBytes);
    const subs = await Promise.all(Array.from({ length: subscribers }, (_, i) => StreamSubscriber.open(broker.url, `bench-frozen-sub-${i}`, TOPIC)));
    await flood(publisher, subs, 100_000, PACE); // warm-up: JIT on both sides

    const runs: { without: StreamFigures[]; with: StreamFigures[]; steadyWithout: StreamFigures[]; steadyWith: StreamFigures[] } = { without: [], with: [], steadyWithout: [], steadyWith: [] };
    let frozen = { pendingBytes: 0, stalledMs: 0, dropped: 0 };
    const withoutFrozen = async (): Promise<void> => {
      runs.without.push(await flood(publisher, subs, messages, PACE));
      runs.steadyWithout.push(await steady(publisher, subs, messagesPerSecond, seconds, PACE.frameMessages));
    };
    for (let round = 0; round < rounds; round++) {
      // Odd rounds measure without the frozen one first, even rounds after it: drift on this machine cancels out.
      if (round % 2 === 0) await withoutFrozen();
      const frozenSub = await StreamSubscriber.open(broker.url, `bench-frozen-${round}`, TOPIC);
      frozenSub.ws.pause();
      await fillUntilCongested(broker.url, publisher, subs, `bench-frozen-${round}`);
      runs.with.push(await flood(publisher, subs, messages, PACE));
      runs.steadyWith.push(await steady(publisher, subs, messagesPerSecond, seconds, PACE.frameMessages));
      const view = (await connectionsOf(broker.url)).find((c) => c.name === `bench-frozen-${round}`);
      if (!view || view.pendingBytes <= MAX_PENDING) throw new Error('the frozen subscriber was not congested to the end of its runs');
      frozen = { pendingBytes: view.pendingBytes, stalledMs: view.stalledMs, dropped: view.dropped };
      frozenSub.close();
      if (round % 2 === 1) await withoutFrozen();
    }
    const memory = await brokerMemory(broker.url);
    publisher.close();
    for (const s of subs) s.close();

    const best = (list: StreamFigures[]): StreamFigures => ({
      deliveriesPerSecond: Math.max(...list.map((f) => f.deliveriesPerSecond)),
      p50Ms: Math.min(...list.map((f) => f.p50Ms)),
      p99Ms: Math.min(...list.map((f) => f.p99Ms)),
      dropped: Math.max(...list.map((f) => f.dropped)),
    });
    const compare = (without: StreamFigures, withFrozen: StreamFigures) => ({
      without, with: withFrozen,
      rateRatio: round(withFrozen.deliveriesPerSecond / without.deliveriesPerSecond, 3),
      p99Ratio: round(withFrozen.p99Ms / without.p99Ms, 3),
    });
    return {
      subscribers, payloadBytes, maxPendingBytes: MAX_PENDING,
      throughput: { messages, ...compare(best(runs.without), best(runs.with)) },
      steady: { messagesPerSecond, seconds, ...compare(best(runs.steadyWithout), best(runs.steadyWith)) },
      frozen,
      broker: memory,
    };
  } finally {
    await broker.stop();
  }
}

/** Publishes until the broker holds more than maxPendingBytes for the frozen subscriber `name`. */
async function fillUntilCongested(url: string, publisher: StreamPublisher, subs: StreamSubscriber[], name: string): Promise<void> {
  for (let i = 0; i < 1_000; i++) {
    await flood(publisher, subs, 20_000, PACE);
    const view = (await connectionsOf(url)).find((c) => c.name === name);
    if (view && view.pendingBytes > MAX_PENDING) return;
  }
  throw new Error(`the frozen subscriber ${name} never went over maxPendingBytes`);
}
