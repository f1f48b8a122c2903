import { CLOSE_CODES } from '../protocol/errors.js';

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

/**
 * Closes after which reconnecting cannot help: the broker will never speak this client's
 * subprotocol or version, or it refused the credentials, which would fail again.
 */
const FATAL_CLOSE_CODES: readonly number[] = [
  CLOSE_CODES.UNSUPPORTED_SUBPROTOCOL.code, CLOSE_CODES.UNSUPPORTED_VERSION.code, CLOSE_CODES.AUTH_FAILED.code,
];

/** When to try again after a lost connection, and when to give up. */
export class ReconnectPolicy {
  private attempts = 0;
  private everConnected = false;

  /** `servers`: brokers tried in turn; the delay grows once per round over all of them. */
  constructor(private readonly option: boolean | ReconnectOptions = true, private readonly servers = 1) {}

  /** A handshake succeeded: attempts start again from the first delay. */
  connected(): void {
    this.everConnected = true;
    this.attempts = 0;
  }

  /**
   * The next attempt after a close with `code`: its number and delay, or why there is none
   * ('never': the first connection never came up, reconnecting is off, or the close is fatal).
   */
  next(code: number): { attempt: number; delayMs: number } | 'never' | 'gave up' {
    if (!this.everConnected || this.option === false || FATAL_CLOSE_CODES.includes(code)) return 'never';
    const options = this.option === true ? {} : this.option;
    if (options.maxAttempts !== undefined && this.attempts >= options.maxAttempts) return 'gave up';
    const delayMs = backoffDelay(Math.floor(this.attempts++ / this.servers), options);
    return { attempt: this.attempts, delayMs };
  }

  /** Something suggests the broker is reachable again (the network came back): start from the first delay. */
  restart(): void {
    this.attempts = 0;
  }

  get attempted(): number {
    return this.attempts;
  }
}
