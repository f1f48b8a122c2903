import type { Server } from 'node:http';
import type { WebSocket } from 'ws';
import { CLOSE_CODES, LindenError } from '../protocol/errors.js';
import type { DrainFrame } from '../protocol/frames.js';
import type { BrokerContext } from './broker-context.js';
import type { Connection } from './connection.js';
import type { FlushableStore } from './store/last-write.js';

/** A peer that does not finish the close handshake within this is terminated. */
const CLOSE_GRACE_MS = 2_000;

/** What stopping a broker takes apart. */
export interface BrokerParts {
  readonly ctx: BrokerContext;
  readonly http: Server;
  readonly store: FlushableStore;
  /** This broker's membership of a cluster, left once its connections are closed. */
  readonly cluster?: { stop(): Promise<void> };
  /** Ends the broker's own timers (heartbeat, slow-consumer sweep, rate sampling). */
  stopTimers(): void;
}

/**
 * Stops a broker (protocol.md §1.6). It stops listening at once, starts no more durable
 * deliveries and refuses publishes and writes with DRAINING, while acks and reads go on; with
 * `notify` (a drain) every connection is told with a `drain` message. It waits up to
 * `timeoutMs` for the receipts being waited for, the durable deliveries in flight, the `out`s
 * waiting for a taker and (`notify`) each client's answer to the `drain`; what is still waiting
 * then is answered as timed out, never as a success. Then the store is flushed, so every receipt
 * waiting for the disk has left, the connections are closed with 1001, and the store is closed.
 */
export async function stopBroker(b: BrokerParts, timeoutMs: number, notify: boolean): Promise<void> {
  const { ctx } = b;
  const started = Date.now();
  ctx.draining = started + timeoutMs;
  // Wills waiting out their delay are published now, before the store is flushed (protocol.md §4.8).
  ctx.wills.stopping();
  const unlistened = new Promise<void>((resolve) => b.http.close(() => resolve()));
  const settled = inFlight(ctx);
  if (notify) for (const conn of ctx.connections) settled.push(heardBack(ctx, conn));
  if (timeoutMs > 0) await within(Promise.all(settled), timeoutMs);
  const cut = cutShort(ctx);
  if (cut > 0) ctx.log.warn({ receipts: cut }, 'receipts cut short: answered as timed out');
  await b.store.flushed();
  // What waited on those writes (receipts of persistent publishes) runs before the connections close.
  await new Promise((resolve) => setImmediate(resolve));
  if (notify) ctx.log.info({ elapsedMs: Date.now() - started, receiptsCutShort: cut }, 'broker drained');
  b.stopTimers();
  ctx.spaces.stop();
  ctx.wills.stop(); // the broker closes the connections left: not their clients' failure, so no will
  const sockets = [...ctx.connections].map((c) => c.ws);
  for (const conn of [...ctx.connections]) ctx.closeConnection(conn, CLOSE_CODES.GOING_AWAY.code, 'broker shutting down');
  // Every close began now, so one timer ends the grace of all (DESIGN.md §5 "Time").
  const grace = setTimeout(() => {
    for (const ws of sockets) if (ws.readyState !== ws.CLOSED) ws.terminate();
  }, CLOSE_GRACE_MS);
  await Promise.all(sockets.map((ws) => closed(ws)));
  clearTimeout(grace);
  await b.cluster?.stop();
  ctx.durable.stop(); // after the connections let go of their deliveries, so no new deadline starts
  await ctx.clusterQueues?.stop(); // after the deliveries the closed connections held went back to Redis
  b.http.closeAllConnections();
  await unlistened;
  await b.store.close();
  ctx.log.info('broker stopped');
}

/** Sends the `drain` message to an open connection of a draining broker, with the time left. */
export function tellDraining(ctx: BrokerContext, conn: Connection): void {
  if (ctx.draining === undefined || conn.state !== 'open') return;
  const frame: DrainFrame = { t: 'drain', ms: Math.max(0, ctx.draining - Date.now()) };
  conn.sendFrame(frame);
}

export function drainingError(ctx: BrokerContext): LindenError {
  const left = Math.max(0, (ctx.draining ?? 0) - Date.now());
  return new LindenError('DRAINING', `the broker is draining and closes within ${left} ms: it takes no new publishes or tuples; send them to another broker`);
}

/**
 * What a drain waits for: every receipt being waited for answered, every durable delivery
 * settled and every `out` waiting for a taker answered. Durable deliveries stop starting now;
 * nothing else can start, since publishes and writes are refused.
 */
function inFlight(ctx: BrokerContext): Promise<unknown>[] {
  const waits: Promise<unknown>[] = [ctx.durable.quiesce(), ctx.spaces.writersAnswered()];
  if (ctx.clusterQueues) waits.push(ctx.clusterQueues.quiesce());
  for (const conn of ctx.connections) {
    for (const tracker of conn.trackers) waits.push(new Promise<void>((resolve) => { tracker.onFinish = resolve; }));
  }
  return waits;
}

/** The payload of the ping that follows the `drain` message. */
const DRAIN_PING = 'drain';

/**
 * Tells an open connection that the broker drains, then pings it: once its pong is in and what
 * it sent before has been handled, every publish it made before it learnt of the drain has been
 * answered (accepted or DRAINING), and from then on it sends none. Without this barrier a
 * publish still on the wire when the connection closes would get no answer at all. Resolves
 * then, or when the connection closes.
 */
function heardBack(ctx: BrokerContext, conn: Connection): Promise<void> {
  if (conn.state !== 'open') return Promise.resolve();
  tellDraining(ctx, conn);
  conn.flush(); // the `drain` message goes out before the ping
  return new Promise((resolve) => {
    const done = (): void => {
      conn.ws.off('pong', pong);
      conn.ws.off('close', done);
      resolve();
    };
    const pong = (data: Buffer): void => {
      if (data.toString() === DRAIN_PING) conn.inbox.whenEmpty(done);
    };
    conn.ws.on('pong', pong);
    conn.ws.once('close', done);
    conn.ws.ping(DRAIN_PING);
  });
}

/** Answers every receipt and `out` still waiting as timed out; returns how many. */
function cutShort(ctx: BrokerContext): number {
  let cut = ctx.spaces.timeOutWriters();
  for (const conn of ctx.connections) {
    for (const tracker of [...conn.trackers]) {
      tracker.timeOut();
      cut++;
    }
  }
  return cut;
}

async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); })]);
  clearTimeout(timer);
}

/** Resolves when the socket has closed. */
function closed(ws: WebSocket): Promise<void> {
  if (ws.readyState === ws.CLOSED) return Promise.resolve();
  return new Promise((resolve) => ws.once('close', () => resolve()));
}
