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
  private readonly samples = new WeakMap<object, Sample[]>();
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

  private record(key: object, sample: Sample): void {
    let list = this.samples.get(key);
    if (!list) this.samples.set(key, (list = []));
    list.push(sample);
    while (list.length > 0 && list[0]!.t < sample.t - RATE_WINDOW_MS) list.shift();
  }

  /** `bornAt`: when the queue or space was made, if known (its counters were 0 then). */
  private rates(key: object, bornAt: number, a: number, b: number, now: number): [number, number] {
    const from = now - RATE_WINDOW_MS;
    const born = Math.max(this.startedAt, bornAt);
    let base = this.samples.get(key)?.find((s) => s.t >= from);
    if (born >= from && (!base || born < base.t)) base = { t: born, a: 0, b: 0 };
    if (!base) return [0, 0];
    const seconds = Math.max(1, (now - base.t) / 1_000);
    return [round((a - base.a) / seconds), round((b - base.b) / seconds)];
  }
}

function round(rate: number): number {
  return Math.round(Math.max(0, rate) * 100) / 100;
}
