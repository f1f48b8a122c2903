import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { codecForSubprotocol } from '../protocol/codec.js';
import { CLOSE_CODES } from '../protocol/errors.js';
import type { BrokerContext } from './broker-context.js';
import type { Census } from './census.js';
import { Connection } from './connection.js';
import type { ConnectionCaps } from './connection-caps.js';
import { DeadlineQueue } from './deadline-queue.js';
import { dispatch, fromChain } from './dispatch.js';
import type { FlushScheduler } from './flush-scheduler.js';
import { SUPPORTED } from './web-server.js';

/**
 * A broker's WebSockets from accept to release: each becomes a Connection (or is refused for a
 * connection limit), gets a handshake deadline and heartbeats, and is let go once it closed,
 * was closed by the broker, or fell silent.
 */
export interface Sockets {
  /** Takes a socket the upgrade accepted. */
  accept(ws: WebSocket, req: IncomingMessage): void;
  /** The broker closes `conn` (BrokerContext.closeConnection). */
  close(conn: Connection, code: number, reason: string): void;
  /** `conn` said hello in time: its handshake deadline is off. */
  handshakeDone(conn: Connection): void;
  /** Ends the heartbeat and the handshake deadlines. */
  stop(): void;
  /** Ends the grace of refused sockets, which stop() leaves running. */
  stopRefusals(): void;
}

export interface SocketParts {
  /** The broker's open connections, which these sockets add to and release from. */
  readonly connections: Set<Connection>;
  readonly caps: ConnectionCaps;
  readonly scheduler: FlushScheduler;
  /** This start's id, the suffix of every connection id. */
  readonly instance: string;
  readonly census?: Census;
  /** Closes a connection as a slow consumer (4007, counted and logged), then releases it. */
  readonly closeSlow: (conn: Connection, reason: string) => void;
}

/** Where a socket keeps its connection, for the listeners all sockets share. */
const CONNECTION = Symbol('connection');
type ConnectedSocket = WebSocket & { [CONNECTION]: Connection };

export function createSockets(ctx: BrokerContext, parts: SocketParts): Sockets {
  const { connections, caps, scheduler, instance, census, closeSlow } = parts;
  const { options: opts, log } = ctx;
  let nextConnection = 1;
  // Shared by every connection rather than a closure each: an idle connection is kept small (issue 14).
  const receive = (conn: Connection, message: unknown): void => fromChain(ctx, conn, message);
  // One timer for every connection's handshake deadline (DESIGN.md §5 "Time").
  const handshakes = new DeadlineQueue<Connection>(opts.handshakeTimeoutMs, (conn) => {
    if (conn.state === 'handshake') ctx.closeConnection(conn, CLOSE_CODES.HANDSHAKE_TIMEOUT.code, 'no hello in time');
  });
  const refusals = new DeadlineQueue<WebSocket>(REFUSED_GRACE_MS, (ws) => ws.terminate());

  function accept(ws: WebSocket, req: IncomingMessage): void {
    const codec = codecForSubprotocol(ws.protocol);
    if (!codec) {
      ws.close(CLOSE_CODES.UNSUPPORTED_SUBPROTOCOL.code, `offer subprotocol ${SUPPORTED.join(' or ')}`);
      return;
    }
    const address = req.socket.remoteAddress ?? '';
    const full = caps.admit(address);
    if (full !== undefined) {
      refuseConnection(ws, full, refusals);
      log.warn({ remote: address }, `connection refused: ${full}`);
      return;
    }
    const conn: Connection = new Connection(`c${nextConnection++}-${instance}`, ws, codec, address, opts, scheduler, receive, closeSlow, ctx.pubsub.subscriptions);
    connections.add(conn);
    census?.connectionMade(conn);
    handshakes.add(conn);
    (ws as ConnectedSocket)[CONNECTION] = conn;
    ws.on('message', onMessage);
    ws.on('pong', onPong);
    ws.on('error', onError);
    ws.on('close', onClose);
  }

  // One listener of each kind for every socket, which finds its connection on the socket, rather
  // than four closures per connection (issue 14).
  function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
    const conn = (this as ConnectedSocket)[CONNECTION];
    conn.alive = true;
    dispatch(ctx, conn, data, isBinary);
  }

  function onPong(this: WebSocket): void {
    (this as ConnectedSocket)[CONNECTION].alive = true;
  }

  function onError(this: WebSocket, err: Error): void {
    log.debug({ err, conn: (this as ConnectedSocket)[CONNECTION].id }, 'socket error');
  }

  function onClose(this: WebSocket, code: number): void {
    const conn = (this as ConnectedSocket)[CONNECTION];
    handshakes.delete(conn);
    log.debug({ conn: conn.id, code }, 'client disconnected');
    // Only the client's own close with 1000 is a clean end: its will is dropped (protocol.md §4.8).
    const clean = code === CLOSE_CODES.NORMAL.code;
    // What it sent before it left is still handled, in its turns; then it is let go.
    conn.inbox.whenEmpty(() => release(conn, clean));
  }

  /** `clean`: the client closed with 1000; every other end (lost, silent, closed by the broker) publishes its will. */
  function release(conn: Connection, clean = false): void {
    if (!connections.delete(conn)) return;
    handshakes.delete(conn);
    caps.release(conn.remoteAddress);
    ctx.pubsub.detach(conn);
    ctx.spaces.detach(conn);
    ctx.scheduled.detach(conn);
    conn.dispose();
    ctx.wills.ended(conn, clean);
  }

  // A peer that misses a whole heartbeat interval is gone; terminate frees its resources now.
  const heartbeat = setInterval(() => {
    for (const conn of connections) {
      if (!conn.alive) {
        conn.ws.terminate();
        release(conn);
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
  }, opts.heartbeatMs);
  heartbeat.unref();

  return {
    accept,
    close(conn, code, reason) {
      conn.flush();
      conn.ws.close(code, reason);
      // A socket paused for backpressure or a login must read the peer's close frame, or the
      // close waits for ws's 30 s timeout.
      conn.ws.resume();
      release(conn);
    },
    handshakeDone(conn) {
      handshakes.delete(conn);
    },
    stop() {
      clearInterval(heartbeat);
      handshakes.stop();
    },
    stopRefusals() {
      refusals.stop();
    },
  };
}

/** How long a connection refused for a limit may take to answer the close before it is cut off. */
const REFUSED_GRACE_MS = 1_000;

/**
 * Closes a new connection over maxConnections or maxConnectionsPerAddress with 4009 and the
 * reason. Accept-and-close rather than an HTTP 503 at the upgrade: a browser's WebSocket shows a
 * close code and reason but never an HTTP status or body, so only a close tells every client
 * which limit it met (the SDK reports it as CONNECTION_REFUSED with the reason, and a client that
 * was connected before tries again with back-off, as after any loss). It stays cheap: no
 * Connection, no handshake deadline, no frame read, and a peer that does not answer the close is
 * cut off after a second (`refusals`, one timer for all) instead of ws's 30.
 */
function refuseConnection(ws: WebSocket, reason: string, refusals: DeadlineQueue<WebSocket>): void {
  ws.on('error', () => undefined); // a reset during the close is no concern of ours
  ws.close(CLOSE_CODES.TOO_MANY_CONNECTIONS.code, reason);
  refusals.add(ws);
  ws.once('close', () => refusals.delete(ws));
}
