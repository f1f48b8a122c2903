import type { OutFrame, PubFrame, UnscheduleFrame } from '../../protocol/frames.js';
import type { BrokerContext } from '../broker-context.js';
import type { Connection } from '../connection.js';

/**
 * Scheduled delivery (protocol.md §9.10): a `pub` or `out` with `delay` or `deliverAt` comes here
 * instead of its core (handlers/pubsub.ts and handlers/space.ts test the two fields), and
 * `unschedule` cancels one. dispatch authorized the `pub`/`out` as it does any; who may cancel
 * is known only once the schedule is found, so Scheduler.cancel() checks it (the scheduler's
 * user, or a right to publish on its topic or write to its space).
 */
export function schedulePub(ctx: BrokerContext, conn: Connection, f: PubFrame): void {
  ctx.scheduled.publish(conn, f);
}

/** Cluster mode keeps every space in Redis: there an out is scheduled persistently when it says `persistent: true`. */
export function scheduleOut(ctx: BrokerContext, conn: Connection, f: OutFrame): void {
  ctx.scheduled.out(conn, f, ctx.clusterQueues ? false : ctx.spaces.isPersistent(f.space));
}

export function unschedule(ctx: BrokerContext, conn: Connection, f: UnscheduleFrame): void {
  ctx.scheduled.cancel(conn, f);
}
