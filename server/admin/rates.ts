import type { DurableCore } from '../pubsub/durable/durable-core.js';
import type { DurableQueue } from '../pubsub/durable/durable-queue.js';
import type { Space } from '../space/space.js';
import type { SpaceCore } from '../space/space-core.js';

/** Two counters of one queue or space at one moment. */
interface Sample {
  t: number;
  a: number;
  b: number;
}

export interface QueueRates {
  /** Messages stored per second (publishes, not dead-letter retries). */
  publishRate: number;
  /** Messages acknowledged per second. */
  ackRate: number;
}

export interface SpaceRates {
  /** Tuples written per second. */
  outRate: number;
  /** Tuples taken per second. */
  inRate: number;
}

/** How far back a rate looks, and how often the counters are sampled. */
export const RATE_WINDOW_MS = 10_000;
const SAMPLE_EVERY_MS = 1_000;

/**
 * Per-second rates for the inspection views, from the counters the cores keep anyway: a timer
 * samples them once a second, and a rate is the growth since the oldest sample of the last 10 s
 * divided by the time between. The hot paths pay nothing. A counter is 0 when the sampler starts
 * (or when its queue is made later), so that moment is a sample too: a rate is right from
 * the first second, measured over at least one second so a burst does not read as thousands.
 */
export class RateSampler {
  /** Samples as t, a, b, t, a, b...: numbers side by side, where an object a sample cost three times more (issue 21: many small queues). */
  private readonly samples = new WeakMap<object, number[]>();
  private readonly startedAt = Date.now();
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(private readonly durable: DurableCore, private readonly spaces: SpaceCore) {
    this.timer = setInterval(() => this.tick(Date.now()), SAMPLE_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  queue(q: DurableQueue, now = Date.now()): QueueRates {
    const [publishRate, ackRate] = this.rates(q, q.createdAt, q.stats.published, q.stats.acked, now);
    return { publishRate, ackRate };
  }

  space(s: Space, now = Date.now()): SpaceRates {
    const [outRate, inRate] = this.rates(s, 0, s.stats.outs, s.stats.ins, now);
    return { outRate, inRate };
  }

  private tick(now: number): void {
    for (const q of this.durable.queues.values()) this.record(q, { t: now, a: q.stats.published, b: q.stats.acked });
    for (const s of this.spaces.listSpaces()) this.record(s, { t: now, a: s.stats.outs, b: s.stats.ins });
  }

  /**
   * A sample equal to the one before is not kept: that one stands for it, so an idle queue holds
   * one sample instead of ten (issue 21: many small queues), and one never used holds none.
   * Of the samples older than the window, the newest stays: its counters held when it began.
   */
  private record(key: object, sample: Sample): void {
    let list = this.samples.get(key);
    if (!list) {
      if (sample.a === 0 && sample.b === 0) return; // as it was made: rates() counts from 0 at its birth
      // The counters were 0 a sample ago, as they would have been sampled.
      this.samples.set(key, [sample.t - SAMPLE_EVERY_MS, 0, 0, sample.t, sample.a, sample.b]);
      return;
    }
    const n = list.length;
    if (list[n - 2] !== sample.a || list[n - 1] !== sample.b) list.push(sample.t, sample.a, sample.b);
    let old = 0;
    while (list.length - old > 3 && list[old + 3]! <= sample.t - RATE_WINDOW_MS) old += 3;
    if (old > 0) list.splice(0, old);
  }

  /** `bornAt`: when the queue or space was made, if known (its counters were 0 then). */
  private rates(key: object, bornAt: number, a: number, b: number, now: number): [number, number] {
    const from = now - RATE_WINDOW_MS;
    const born = Math.max(this.startedAt, bornAt);
    let base = this.baseAt(key, from);
    if (born >= from && (!base || born < base.t)) base = { t: born, a: 0, b: 0 };
    if (!base) return [0, 0];
    const seconds = Math.max(1, (now - base.t) / 1_000);
    return [round((a - base.a) / seconds), round((b - base.b) / seconds)];
  }

  /** The counters as the window began: the first sample in it, or the last before it, whose values held until the next. */
  private baseAt(key: object, from: number): Sample | undefined {
    const list = this.samples.get(key);
    if (!list) return undefined;
    let i = 0;
    while (i < list.length && list[i]! < from) i += 3;
    if (i === 0) return { t: list[0]!, a: list[1]!, b: list[2]! };
    return { t: from, a: list[i - 2]!, b: list[i - 1]! };
  }
}

function round(rate: number): number {
  return Math.round(Math.max(0, rate) * 100) / 100;
}
