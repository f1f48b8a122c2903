export interface ReconnectOptions {
  /** First delay before reconnecting. Default 100 ms. */
  initialDelayMs?: number;
  /** Longest delay between attempts. Default 5,000 ms. */
  maxDelayMs?: number;
  /** Give up after this many failed attempts in a row. Default: never. */
  maxAttempts?: number;
}

/** Exponential back-off with full jitter in its upper half, so a fleet of clients does not reconnect in lockstep. */
export function backoffDelay(attempt: number, options: ReconnectOptions): number {
  const initial = options.initialDelayMs ?? 100;
  const max = options.maxDelayMs ?? 5_000;
  const ceiling = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}
