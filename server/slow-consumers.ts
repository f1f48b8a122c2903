import type { Logger } from 'pino';
import { CLOSE_CODES } from '../protocol/errors.js';
import type { Connection } from './connection.js';

/** Why a connection was closed as a slow consumer (the `cause` label of linden_slow_consumers_closed_total). */
export type SlowCause = 'stalled' | 'events';

/**
 * Closes the connections that stop reading (protocol.md §11). One sweep over all connections
 * every quarter of `writeDeadlineMs` (DESIGN.md §5 "Time": no timer per connection) finds those
 * whose output has stayed over maxPendingBytes while their socket took none of it for the
 * deadline; tuple-space events report the other cause themselves (Connection.sendEvent). Either
 * way the connection is closed with 4007 SLOW_CONSUMER, counted and logged, and released like
 * after any close: its durable deliveries go back to their queues for other consumers.
 */
export class SlowConsumers {
  /** Connections closed as slow consumers since the broker started, by cause. */
  readonly closed: Record<SlowCause, number> = { stalled: 0, events: 0 };
  private readonly sweeper: ReturnType<typeof setInterval>;

  constructor(
    private readonly connections: ReadonlySet<Connection>,
    private readonly writeDeadlineMs: number,
    private readonly log: Logger,
    private readonly closeConnection: (conn: Connection, code: number, reason: string) => void,
  ) {
    this.sweeper = setInterval(() => this.sweep(Date.now()), Math.max(10, Math.floor(writeDeadlineMs / 4)));
    this.sweeper.unref();
  }

  sweep(now: number): void {
    const stalled: [Connection, number][] = [];
    for (const conn of this.connections) {
      const ms = conn.outputStalledFor(now);
      if (ms >= this.writeDeadlineMs) stalled.push([conn, ms]);
    }
    for (const [conn, ms] of stalled) {
      this.close(conn, 'stalled', `slow consumer: ${conn.pendingBytes} bytes unsent, none taken for ${ms} ms`, { stalledMs: ms });
    }
  }

  /** Closes `conn` with 4007 and the reason given (at most 123 bytes: a close frame's limit). */
  close(conn: Connection, cause: SlowCause, reason: string, details: Record<string, unknown> = {}): void {
    if (conn.state === 'closed') return;
    this.closed[cause]++;
    this.log.warn({ conn: conn.id, client: conn.name, remote: conn.remoteAddress, pendingBytes: conn.pendingBytes, ...details, code: CLOSE_CODES.SLOW_CONSUMER.code }, reason);
    this.closeConnection(conn, CLOSE_CODES.SLOW_CONSUMER.code, reason);
  }

  stop(): void {
    clearInterval(this.sweeper);
  }
}
