import { processCpu } from './process-cpu.js';
import { quantile } from './quantile.js';
import { spawnBroker } from './spawn-broker.js';
import { brokerMemory, connectionsOf, floodFrame, pushFor, round, steady, StreamPublisher, StreamSubscriber, type StreamFigures } from './streams.js';

/** A run's figures and the broker's CPU time (user + system) per delivery to the subscribers that read. */
export interface RunFigures extends StreamFigures {
  brokerCpuMicrosPerDelivery: number;
}

interface Comparison {
  /** The figures of the median round (by capacity ratio when saturated, by p99 ratio when steady). */
  without: RunFigures;
  with: RunFigures;
  /**
   * With over without, paired by round (the two runs of a round are back to back, so drift on
   * this machine cancels out), then the median of the rounds. `capacityRatio` is the broker's
   * CPU per delivery without over with: the share of its delivery rate the broker keeps, which
   * other work on the machine blurs less than the wall-clock rate.
   */
  rateRatio: number;
  capacityRatio: number;
  p99Ratio: number;
  rounds: { rateRatio: number; capacityRatio: number; p99Ratio: number }[];
}

export interface FrozenSubscriberResult {
  subscribers: number;
  payloadBytes: number;
  maxPendingBytes: number;
  /** A publisher as fast as the broker reads it (the broker is the bottleneck), `seconds` a run; no latency. */
  saturated: { seconds: number } & Comparison;
  /** A publisher at a steady rate, well under the broker's capacity: latency. */
  steady: { messagesPerSecond: number; seconds: number } & Comparison;
  /** What the broker held for the frozen subscriber at the end of the runs with it. */
  frozen: { pendingBytes: number; stalledMs: number; dropped: number };
  broker: { rssMiB: number; heapMiB: number };
}

const TOPIC = 'bench.frozen';
const MAX_PENDING = 8 * 1024 * 1024;
const PAYLOAD_BYTES = 256;
/** Messages per frame the publishers send: near 60 KiB a frame with 256 B payloads. */
const FRAME_MESSAGES = 200;

/**
 * Issue 13: "one frozen subscriber among many must not lower the others' delivery rate or raise
 * their p99 by more than 20%". A broker in a child process with the default maxPendingBytes and,
 * in this process, `subscribers` raw subscribers on each of two topics and a publisher for each.
 * Each round measures without and with one more subscriber (on both topics) whose socket is
 * paused from the start (frozen: TCP fills, then the broker's buffer for it passes
 * maxPendingBytes and every delivery to it is dropped), in turn first and second; the broker's
 * writeDeadlineMs is long, so the frozen one stays for the whole run, the worst case.
 *
 * - saturated: the publisher sends pre-encoded frames as fast as the broker reads them to
 *   subscribers that read without decoding, so the broker is the bottleneck; the delivery rate
 *   and the broker's CPU time per delivery (from /proc) come from the broker's own counts.
 * - steady: `messagesPerSecond` to subscribers that decode each message and time it.
 */
export async function frozenSubscriber(options: { subscribers?: number; seconds?: number; messagesPerSecond?: number; steadySeconds?: number; rounds?: number } = {}): Promise<FrozenSubscriberResult> {
  const { subscribers = 4, seconds = 2, messagesPerSecond = 10_000, steadySeconds = 3, rounds = 5 } = options;
  const broker = await spawnBroker({ maxPendingBytes: MAX_PENDING, writeDeadlineMs: 3_600_000 });
  try {
    const flooding = await StreamPublisher.open(broker.url, 'bench-frozen-flood', `${TOPIC}.flood`, PAYLOAD_BYTES);
    const counters = await Promise.all(Array.from({ length: subscribers }, (_, i) => StreamSubscriber.open(broker.url, `bench-frozen-count-${i}`, `${TOPIC}.flood`, { decode: false })));
    const publisher = await StreamPublisher.open(broker.url, 'bench-frozen-pub', `${TOPIC}.steady`, PAYLOAD_BYTES);
    const subs = await Promise.all(Array.from({ length: subscribers }, (_, i) => StreamSubscriber.open(broker.url, `bench-frozen-sub-${i}`, `${TOPIC}.steady`)));
    const frame = floodFrame(`${TOPIC}.flood`, FRAME_MESSAGES, PAYLOAD_BYTES);
    const cpu = processCpu(broker.child.pid!);

    /** The broker's counts of deliveries and drops to the counting subscribers. */
    const counted = async (): Promise<{ out: number; dropped: number }> => {
      const list = (await connectionsOf(broker.url)).filter((c) => c.name?.startsWith('bench-frozen-count-'));
      return { out: list.reduce((n, c) => n + c.messagesOut, 0), dropped: list.reduce((n, c) => n + c.dropped, 0) };
    };
    const saturated = async (): Promise<RunFigures> => {
      const [before, cpuBefore, started] = [await counted(), cpu(), performance.now()];
      await pushFor(flooding, frame, FRAME_MESSAGES, seconds);
      const [after, cpuAfter, elapsed] = [await counted(), cpu(), (performance.now() - started) / 1000];
      const deliveries = after.out - before.out;
      return {
        deliveries, deliveriesPerSecond: Math.round(deliveries / elapsed), p50Ms: NaN, p99Ms: NaN, dropped: after.dropped - before.dropped,
        brokerCpuMicrosPerDelivery: round(((cpuAfter - cpuBefore) * 1e6) / deliveries, 3),
      };
    };
    const steadily = async (): Promise<RunFigures> => {
      const cpuBefore = cpu();
      const figures = await steady(publisher, subs, messagesPerSecond, steadySeconds, FRAME_MESSAGES);
      return { ...figures, brokerCpuMicrosPerDelivery: round(((cpu() - cpuBefore) * 1e6) / figures.deliveries, 3) };
    };
    const both = async (): Promise<[RunFigures, RunFigures]> => [await saturated(), await steadily()];

    // Warm-up, a frozen subscriber included: the JIT has compiled the drop path before any run.
    const warming = await StreamSubscriber.open(broker.url, 'bench-frozen-warm-up', `${TOPIC}.>`);
    warming.ws.pause();
    await fillUntilCongested(broker.url, flooding, frame, 'bench-frozen-warm-up');
    await pushFor(flooding, frame, FRAME_MESSAGES, 1);
    await steady(publisher, subs, messagesPerSecond, 1, FRAME_MESSAGES);
    warming.close();
    await pushFor(flooding, frame, FRAME_MESSAGES, 1);
    const pairs: { without: [RunFigures, RunFigures]; with: [RunFigures, RunFigures] }[] = [];
    let frozen = { pendingBytes: 0, stalledMs: 0, dropped: 0 };
    for (let r = 0; r < rounds; r++) {
      const without = r % 2 === 0 ? await both() : undefined;
      const name = `bench-frozen-${r}`;
      const frozenSub = await StreamSubscriber.open(broker.url, name, `${TOPIC}.>`);
      frozenSub.ws.pause();
      await fillUntilCongested(broker.url, flooding, frame, name);
      const withFrozen = await both();
      const view = (await connectionsOf(broker.url)).find((c) => c.name === name);
      if (!view || view.pendingBytes <= MAX_PENDING) throw new Error('the frozen subscriber was not congested to the end of its runs');
      frozen = { pendingBytes: view.pendingBytes, stalledMs: view.stalledMs, dropped: view.dropped };
      frozenSub.close();
      pairs.push({ without: without ?? await both(), with: withFrozen });
    }
    const memory = await brokerMemory(broker.url);
    for (const c of [flooding, publisher, ...counters, ...subs]) c.close();

    const compare = (k: 0 | 1): Comparison => {
      const ratios = pairs.map(({ without: a, with: b }) => ({
        rateRatio: round(b[k].deliveriesPerSecond / a[k].deliveriesPerSecond, 3),
        capacityRatio: round(a[k].brokerCpuMicrosPerDelivery / b[k].brokerCpuMicrosPerDelivery, 3),
        p99Ratio: round(b[k].p99Ms / a[k].p99Ms, 3),
      }));
      const median = (key: 'rateRatio' | 'capacityRatio' | 'p99Ratio'): number => quantile(ratios.map((x) => x[key]).sort((a, b) => a - b), 0.5);
      // The figures shown are the round whose ratio is the median: capacity when saturated, p99 when steady.
      const key = k === 0 ? 'capacityRatio' : 'p99Ratio';
      const middle = pairs[ratios.findIndex((x) => x[key] === median(key))]!;
      return { without: middle.without[k], with: middle.with[k], rateRatio: median('rateRatio'), capacityRatio: median('capacityRatio'), p99Ratio: median('p99Ratio'), rounds: ratios };
    };
    return {
      subscribers, payloadBytes: PAYLOAD_BYTES, maxPendingBytes: MAX_PENDING,
      saturated: { seconds, ...compare(0) },
      steady: { messagesPerSecond, seconds: steadySeconds, ...compare(1) },
      frozen,
      broker: memory,
    };
  } finally {
    await broker.stop();
  }
}

/** Floods until the broker holds more than maxPendingBytes for the frozen subscriber `name`. */
async function fillUntilCongested(url: string, flooding: StreamPublisher, frame: Uint8Array, name: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    await pushFor(flooding, frame, FRAME_MESSAGES, 0.2);
    const view = (await connectionsOf(url)).find((c) => c.name === name);
    if (view && view.pendingBytes > MAX_PENDING) return;
  }
  throw new Error(`the frozen subscriber ${name} never went over maxPendingBytes`);
}
