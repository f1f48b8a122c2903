import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { nanoid } from 'nanoid';
import { pino, type Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { codecForSubprotocol } from '../protocol/codec.js';
import { CLOSE_CODES } from '../protocol/errors.js';
import { FrameValidator } from '../protocol/validate.js';
import { LINDEN_VERSION, PROTOCOL_VERSION, SUBPROTOCOLS } from '../protocol/version.js';
import { commitHistogram, timeCommits } from './admin/commit-timer.js';
import { adminHandler } from './admin/http.js';
import { createMetrics } from './admin/metrics.js';
import { RateSampler } from './admin/rates.js';
import type { BrokerContext } from './broker-context.js';
import { Connection } from './connection.js';
import { dispatch, fromChain, handleSlice } from './dispatch.js';
import { FlushScheduler } from './flush-scheduler.js';
import { resolveOptions, type BrokerOptions, type ResolvedOptions } from './options.js';
import { DurableCore } from './pubsub/durable/durable-core.js';
import { PubSubCore } from './pubsub/pubsub-core.js';
import { SpaceCore } from './space/space-core.js';
import { Turns } from './turns.js';
import { LmdbStore } from './store/lmdb-store.js';
import { MemoryStore } from './store/memory-store.js';
import type { Store } from './store/store.js';

export interface Broker {
  /** ws://host:port of the listening broker. */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  /**
   * The broker's pino logger (JSON lines on stdout). Code that embeds or runs the broker logs
   * through it, or a child of it, so operators read one format.
   */
  readonly log: Logger;
  /** Closes every connection with 1001 and stops listening. */
  close(): Promise<void>;
}

const SUPPORTED = [SUBPROTOCOLS.msgpack, SUBPROTOCOLS.json];
const CLOSE_GRACE_MS = 2_000;

/** Starts a broker; resolves once it listens. */
export async function startBroker(options?: BrokerOptions): Promise<Broker> {
  const opts = resolveOptions(options);
  // The one root logger: its lines carry `name: "linden"`; children add `component`, and no log
  // call may pass `name` again, or the line would hold the key twice.
  const log = pino({ name: 'linden', level: opts.logLevel });
  const connections = new Set<Connection>();
  const scheduler = new FlushScheduler();
  const instance = nanoid(8);
  let nextConnection = 1;
  const commits = commitHistogram();
  const store: Store = timeCommits(opts.dataDir ? await LmdbStore.open(opts.dataDir) : new MemoryStore(), commits);
  const spaces = new SpaceCore(opts, store, log.child({ component: 'spaces' }));
  const durable = new DurableCore(opts, store, log.child({ component: 'queues' }));
  const recovered = { spaces: await spaces.recover(), queues: await durable.recover() };
  log.info({ dataDir: opts.dataDir ?? null, durable: store.durable, ...recovered }, 'store opened');
  const rates = new RateSampler(durable, spaces); // admin views (issue #6)

  const ctx: BrokerContext = {
    options: opts,
    log,
    pubsub: new PubSubCore(opts, instance + '-', durable),
    durable,
    spaces,
    validators: { msgpack: new FrameValidator('msgpack'), json: new FrameValidator('json') },
    version: LINDEN_VERSION,
    connections,
    rates,
    closeConnection(conn, code, reason) {
      conn.flush();
      conn.ws.close(code, reason);
      release(conn);
    },
    turns: new Turns((conn, budget) => handleSlice(ctx, conn, budget), () => scheduler.flushNow()),
  };

  // Plain HTTP on the same port: health, metrics and read-only views for operators.
  const http: Server = createServer(adminHandler({
    durable,
    spaces,
    connections,
    rates,
    metrics: createMetrics({ pubsub: ctx.pubsub, durable, spaces, connections, commits }),
    store: { kind: opts.dataDir ? 'lmdb' : 'memory', durable: store.durable },
    upgradeHint: `Linden speaks WebSocket here: connect with subprotocol ${SUPPORTED.join(' or ')}\n`,
  }));
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxFrameBytes,
    perMessageDeflate: false,
    clientTracking: false,
    // Invalid UTF-8 in a JSON text frame is the codec's to refuse, with DECODE_ERROR on an open
    // connection (protocol.md §1.2); ws would close with 1007 instead. The JSON codec decodes
    // with a fatal TextDecoder; the MessagePack codec refuses text frames altogether.
    skipUTF8Validation: true,
    handleProtocols: (offered) => SUPPORTED.find((p) => offered.has(p)) ?? false,
  });

  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
    if (offered.length > 0 && !offered.some((p) => (SUPPORTED as string[]).includes(p))) {
      // Accepting without a subprotocol would make the client fail with no reason; say it in HTTP.
      const body = `unsupported subprotocol(s) ${offered.join(', ')}; offer ${SUPPORTED.join(' or ')}\n`;
      socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, req));
  });

  function accept(ws: WebSocket, req: IncomingMessage): void {
    const codec = codecForSubprotocol(ws.protocol);
    if (!codec) {
      ws.close(CLOSE_CODES.UNSUPPORTED_SUBPROTOCOL.code, `offer subprotocol ${SUPPORTED.join(' or ')}`);
      return;
    }
    const conn = new Connection(`c${nextConnection++}-${instance}`, ws, codec, req.socket.remoteAddress ?? '', opts, scheduler, (c, m) => fromChain(ctx, c, m));
    connections.add(conn);
    const handshakeTimer = setTimeout(() => {
      if (conn.state === 'handshake') ctx.closeConnection(conn, CLOSE_CODES.HANDSHAKE_TIMEOUT.code, 'no hello in time');
    }, opts.handshakeTimeoutMs);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      conn.alive = true;
      dispatch(ctx, conn, data, isBinary);
    });
    ws.on('pong', () => { conn.alive = true; });
    ws.on('error', (err) => log.debug({ err, conn: conn.id }, 'socket error'));
    ws.on('close', (code) => {
      clearTimeout(handshakeTimer);
      log.debug({ conn: conn.id, code }, 'client disconnected');
      // What it sent before it left is still handled, in its turns; then it is let go.
      conn.inbox.whenEmpty(() => release(conn));
    });
  }

  function release(conn: Connection): void {
    if (!connections.delete(conn)) return;
    ctx.pubsub.detach(conn);
    ctx.spaces.detach(conn);
    conn.dispose();
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

  await new Promise<void>((resolve, reject) => {
    http.once('error', (err) => {
      clearInterval(heartbeat);
      rates.stop();
      spaces.stop();
      durable.stop();
      void store.close().finally(() => reject(err));
    });
    http.listen(opts.port, opts.host, () => {
      http.removeAllListeners('error');
      resolve();
    });
  });
  const { port } = http.address() as AddressInfo;
  const hostForUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `ws://${hostForUrl}:${port}`;
  announce(log, opts.logLevel).info({ url, version: LINDEN_VERSION, protocol: PROTOCOL_VERSION }, 'broker listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    host: opts.host,
    log,
    close() {
      closing ??= (async () => {
        clearInterval(heartbeat);
        rates.stop();
        ctx.spaces.stop();
        const sockets = [...connections].map((c) => c.ws);
        for (const conn of [...connections]) ctx.closeConnection(conn, CLOSE_CODES.GOING_AWAY.code, 'broker shutting down');
        await Promise.all(sockets.map((ws) => closed(ws)));
        durable.stop(); // after the connections let go of their deliveries, so no new deadline starts
        const stopped = new Promise<void>((resolve) => http.close(() => resolve()));
        http.closeAllConnections();
        await stopped;
        await store.close();
        log.info('broker stopped');
      })();
      return closing;
    },
  };
}

/**
 * The logger for the `broker listening` line. It is how whoever started the broker learns its
 * URL (with port 0, the only way), so it is written at info even when the level is warn, error
 * or fatal; only `silent` silences it.
 */
function announce(log: Logger, level: ResolvedOptions['logLevel']): Logger {
  return level === 'silent' || log.isLevelEnabled('info') ? log : log.child({}, { level: 'info' });
}

/** Resolves when the socket has closed, terminating it if the peer does not answer the close. */
function closed(ws: WebSocket): Promise<void> {
  if (ws.readyState === ws.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
