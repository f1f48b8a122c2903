import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { nanoid } from 'nanoid';
import { pino, type Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { codecForSubprotocol } from '../protocol/codec.js';
import { CLOSE_CODES, LindenError } from '../protocol/errors.js';
import { MAX_DURATION_MS } from '../protocol/limits.js';
import { FrameValidator } from '../protocol/validate.js';
import { LINDEN_VERSION, PROTOCOL_VERSION, SUBPROTOCOLS } from '../protocol/version.js';
import { commitHistogram, timeCommits } from './admin/commit-timer.js';
import { Authenticator } from './auth/authenticator.js';
import { adminHandler } from './admin/http.js';
import { SDK_PATH, webFolders } from './admin/web-files.js';
import { createMetrics } from './admin/metrics.js';
import { RateSampler } from './admin/rates.js';
import { listConnections } from './admin/views.js';
import { summarizedSubscriptions } from './admin/cluster-subscriptions.js';
import { KICK_REASON } from './handlers/admin.js';
import { LISTED_CONNECTIONS } from './cluster/node-summary.js';
import type { BrokerContext } from './broker-context.js';
import type { Census } from './census.js';
import { Connection } from './connection.js';
import { ConnectionCaps } from './connection-caps.js';
import { DeadlineQueue } from './deadline-queue.js';
import { dispatch, fromChain, handleSlice } from './dispatch.js';
import { stopBroker, type BrokerParts } from './drain.js';
import { warnIfExposed } from './exposure.js';
import { FlushScheduler } from './flush-scheduler.js';
import { resolveOptions, type BrokerOptions, type ResolvedOptions } from './options.js';
import { SlowConsumers } from './slow-consumers.js';
import { originCheck } from './origin.js';
import { joinCluster, type ClusterNode } from './cluster/cluster-node.js';
import { DurableCore } from './pubsub/durable/durable-core.js';
import { RetainedMessages } from './pubsub/retained-messages.js';
import { PubSubCore } from './pubsub/pubsub-core.js';
import { ClusterQueues } from './cluster/durable/cluster-queues.js';
import { openRedis, parseRedisTarget } from './cluster/redis-target.js';
import { SpaceCore } from './space/space-core.js';
import { Scheduler } from './scheduled/scheduler.js';
import { Turns } from './turns.js';
import { Wills } from './wills.js';
import { defaultMaxStoreBytes } from './store/store-room.js';
import { LmdbStore } from './store/lmdb-store.js';
import { MemoryStore } from './store/memory-store.js';
import { rememberLastWrite } from './store/last-write.js';
import type { Store } from './store/store.js';
import { loadTlsIdentity } from './tls.js';

export interface Broker {
  /** ws://host:port of the listening broker; wss:// with the `tls` option. */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  /**
   * The broker's pino logger (JSON lines on stdout). Code that embeds or runs the broker logs
   * through it, or a child of it, so operators read one format.
   */
  readonly log: Logger;
  /**
   * Reads the `tls` files again and serves the new certificate to connections made from now on;
   * open connections keep theirs. A file that cannot be read or a key that does not match
   * rejects with INVALID_OPTIONS and the previous certificate stays. `linden serve` calls it on
   * SIGHUP. Rejects with INVALID_OPTIONS on a broker started without `tls`.
   */
  reloadTls(): Promise<void>;
  /**
   * Stops gracefully (protocol.md §1.6): stops listening, tells every client with a `drain`
   * message, refuses new publishes and writes with DRAINING, and waits up to `timeoutMs`
   * (default: the `drainTimeoutMs` option) for in-flight receipts and durable deliveries; then
   * answers what still waits as timed out, flushes the store and closes every connection with
   * 1001. `linden serve` calls it on SIGTERM and SIGINT. Resolves once stopped; a second call,
   * or close(), returns the same promise.
   */
  drain(options?: { timeoutMs?: number }): Promise<void>;
  /**
   * Stops at once: drain() without the wait and without the `drain` message. Receipts still
   * waiting are answered as timed out, and the store is flushed before the connections close.
   */
  close(): Promise<void>;
}

const SUPPORTED = [SUBPROTOCOLS.msgpack, SUBPROTOCOLS.json];

/** Where a socket keeps its connection, for the listeners all sockets share. */
const CONNECTION = Symbol('connection');
type ConnectedSocket = WebSocket & { [CONNECTION]: Connection };

/**
 * Not options and not public API: seams for tests. `wrapStore` puts a wrapper around the real
 * store, so a test can make its writes fail or wait (test/helpers/faulty-store.ts).
 */
export interface BrokerSeams {
  wrapStore?: (store: Store) => Store;
  /** Counts what the broker holds, for the memory tests (server/census.ts). */
  census?: Census;
}

/** Starts a broker; resolves once it listens. */
export async function startBroker(options?: BrokerOptions, seams: BrokerSeams = {}): Promise<Broker> {
  const opts = resolveOptions(options);
  // The one root logger: its lines carry `name: "linden"`; children add `component`, and no log
  // call may pass `name` again, or the line would hold the key twice.
  const log = pino({ name: 'linden', level: opts.logLevel });
  // Before anything is opened, so a bad certificate leaves nothing to clean up.
  const identity = opts.tls ? await loadTlsIdentity(opts.tls) : undefined;
  const redisTarget = opts.redis ? parseRedisTarget(opts.redis) : undefined; // a bad ?wait= refused before anything is opened
  const auth = new Authenticator(opts.auth);
  const connections = new Set<Connection>();
  const caps = new ConnectionCaps(opts.maxConnections, opts.maxConnectionsPerAddress);
  const scheduler = new FlushScheduler();
  const instance = nanoid(8);
  let nextConnection = 1;
  const commits = commitHistogram();
  const opened: Store = opts.dataDir ? await LmdbStore.open(opts.dataDir) : new MemoryStore();
  const store = rememberLastWrite(timeCommits(seams.wrapStore ? seams.wrapStore(opened) : opened, commits));
  if (opts.maxStoreBytes === undefined && opts.dataDir) opts.maxStoreBytes = await defaultMaxStoreBytes(store, opts.dataDir);
  const spaces = new SpaceCore(opts, store, log.child({ component: 'spaces' }));
  const durable = new DurableCore(opts, store, log.child({ component: 'queues' }));
  const retained = new RetainedMessages(opts, store, log.child({ component: 'retained' }));
  // Due schedules go to the cores through ctx, which exists before the scheduler's clock starts.
  const scheduled = new Scheduler(opts, store, log.child({ component: 'scheduled' }), instance + '-', {
    publish: (conn, f) => ctx.pubsub.publish(conn, f),
    out: (conn, f) => ctx.spaces.out(conn, f),
  });
  let recovered;
  try {
    recovered = { spaces: await spaces.recover(), queues: await durable.recover(), scheduled: await scheduled.recover(), retained: await retained.recover() };
  } catch (err) {
    // Closing releases the data folder's lock, so this process may open the folder again.
    spaces.stop();
    durable.stop();
    await store.close().catch(() => undefined);
    throw err;
  }
  log.info({ dataDir: opts.dataDir ?? null, durable: store.durable, ...recovered }, 'store opened');
  // Cluster mode: one node id, the bus's and the queues', and one command connection they share.
  const clusterQueues = redisTarget && new ClusterQueues(instance, redisTarget, openRedis(redisTarget, `linden:${instance}`), opts, log.child({ component: 'cluster-queues' }));
  await clusterQueues?.start();
  if (clusterQueues) scheduled.useCluster(clusterQueues.redis);
  const rates = new RateSampler(durable, spaces); // admin views (issue #6)

  const ctx: BrokerContext = {
    options: opts,
    log,
    pubsub: new PubSubCore(opts, instance + '-', durable, retained, clusterQueues),
    durable,
    clusterQueues,
    clusterNodes: undefined,
    clusterKick: undefined,
    spaces,
    scheduled,
    // Through the normal publish path, as a `pub` with ack 'none' of the connection that left it.
    wills: new Wills((publisher, frame) => ctx.pubsub.publish(publisher as Connection, frame), log.child({ component: 'wills' })),
    validators: { msgpack: new FrameValidator('msgpack'), json: new FrameValidator('json') },
    version: LINDEN_VERSION,
    auth,
    connections,
    rates,
    holdInbound(conn, until) {
      conn.inbox.holds++;
      void until.finally(() => {
        conn.inbox.holds--;
        if (conn.state !== 'closed' && !conn.inbox.held && !conn.inbox.running) ctx.turns.arrived(conn);
      });
    },
    closeConnection(conn, code, reason) {
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
    turns: new Turns((conn, budget) => handleSlice(ctx, conn, budget), () => scheduler.flushNow()),
    draining: undefined,
  };
  seams.census?.attach(ctx);
  scheduled.start();
  // Cluster mode (DESIGN.md §5): the pub/sub core gets a bus to the other nodes; the node id is this start's.
  const cluster: ClusterNode | undefined = redisTarget && clusterQueues
    ? joinCluster(redisTarget, clusterQueues.redis, instance, ctx.pubsub, spaces, opts, log.child({ component: 'cluster' }), clusterQueues)
    : undefined;
  ctx.clusterNodes = cluster?.summaries;
  if (cluster) {
    ctx.clusterKick = (node, id) => cluster.kick(node, id);
    cluster.kickHere = (id) => {
      const target = [...connections].find((c) => c.id === id);
      if (target) ctx.closeConnection(target, CLOSE_CODES.KICKED.code, KICK_REASON);
      return target !== undefined;
    };
    // A client back within its will's delay may come back to another node (protocol.md §4.8).
    ctx.wills.returnedElsewhere = (key) => cluster.announceReturn(key);
    cluster.returnedHere = (key) => ctx.wills.returned(key);
  }

  const slow = new SlowConsumers(connections, opts.writeDeadlineMs, log, ctx.closeConnection);
  // Shared by every connection rather than a closure each: an idle connection is kept small (issue 14).
  const receive = (conn: Connection, message: unknown): void => fromChain(ctx, conn, message);
  const closeSlow = (conn: Connection, reason: string): void => slow.close(conn, 'events', reason);
  // One timer for every connection's handshake deadline (DESIGN.md §5 "Time").
  const handshakes = new DeadlineQueue<Connection>(opts.handshakeTimeoutMs, (conn) => {
    if (conn.state === 'handshake') ctx.closeConnection(conn, CLOSE_CODES.HANDSHAKE_TIMEOUT.code, 'no hello in time');
  });
  const refusals = new DeadlineQueue<WebSocket>(REFUSED_GRACE_MS, (ws) => ws.terminate());

  // HTTP(S) on the same port: health, metrics and read-only views for operators, and the browser SDK.
  const web = webFolders();
  const handler = adminHandler({
    web,
    durable,
    retained,
    spaces,
    scheduled,
    connections,
    rates,
    metrics: createMetrics({
      pubsub: ctx.pubsub, durable, spaces, scheduled, connections, commits, auth, slow, caps, wills: ctx.wills,
      cluster: clusterQueues && cluster ? { queues: clusterQueues, nodes: cluster.summaries } : undefined,
    }),
    store: { kind: opts.dataDir ? 'lmdb' : 'memory', durable: store.durable },
    upgradeHint: `Linden speaks WebSocket here: connect with subprotocol ${SUPPORTED.join(' or ')}\n`,
    auth,
    metricsAuth: opts.metricsAuth,
    maxArity: opts.maxArity,
    cluster: clusterQueues && cluster ? { queues: clusterQueues, nodes: cluster.summaries, retained: cluster.retained } : undefined,
  });
  const https: HttpsServer | undefined = identity ? createHttpsServer({ cert: identity.cert, key: identity.key }, handler) : undefined;
  const http: Server = https ?? createServer(handler);
  // A client that does not trust the certificate, or speaks plain HTTP to the TLS port: its own business.
  https?.on('tlsClientError', (err, socket) => {
    log.debug({ err: err.message, remote: socket.remoteAddress }, 'TLS handshake failed');
    socket.destroy();
  });
  const originAllowed = originCheck(opts.allowedOrigins);
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
    // Only over a connection opened before the drain began: it stopped listening then.
    if (ctx.draining !== undefined) {
      refuseUpgrade(socket, '503 Service Unavailable', 'the broker is draining before it stops: connect to another broker\n');
      return;
    }
    // Browsers let any page open a WebSocket anywhere and say whose page it is; only the broker can refuse.
    const origin = req.headers.origin;
    if (origin !== undefined && !originAllowed(origin)) {
      const shown = origin.slice(0, ECHO_CHARS);
      log.warn({ origin: shown, remote: req.socket.remoteAddress }, 'upgrade refused: origin not allowed');
      refuseUpgrade(socket, '403 Forbidden', `origin ${shown} is not allowed; the broker's allowedOrigins option lists the web pages that may connect\n`);
      return;
    }
    const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
    if (offered.length > 0 && !offered.some((p) => (SUPPORTED as string[]).includes(p))) {
      // Accepting without a subprotocol would make the client fail with no reason; say it in HTTP.
      refuseUpgrade(socket, '400 Bad Request', `unsupported subprotocol(s) ${offered.join(', ')}; offer ${SUPPORTED.join(' or ')}\n`);
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
    const address = req.socket.remoteAddress ?? '';
    const full = caps.admit(address);
    if (full !== undefined) {
      refuseConnection(ws, full, refusals);
      log.warn({ remote: address }, `connection refused: ${full}`);
      return;
    }
    const conn: Connection = new Connection(`c${nextConnection++}-${instance}`, ws, codec, address, opts, scheduler, receive, closeSlow, ctx.pubsub.subscriptions);
    connections.add(conn);
    seams.census?.connectionMade(conn);
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
    scheduled.detach(conn);
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

  await new Promise<void>((resolve, reject) => {
    http.once('error', (err) => {
      clearInterval(heartbeat);
      handshakes.stop();
      ctx.wills.stop();
      refusals.stop();
      slow.stop();
      rates.stop();
      scheduled.stop();
      spaces.stop();
      durable.stop();
      void (cluster?.stop() ?? Promise.resolve()).then(() => clusterQueues?.stop()).finally(() => store.close().finally(() => reject(err)));
    });
    http.listen(opts.port, opts.host, () => {
      http.removeAllListeners('error');
      resolve();
    });
  });
  const { port } = http.address() as AddressInfo;
  const hostForUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `${https ? 'wss' : 'ws'}://${hostForUrl}:${port}`;
  cluster?.summaries.start(() => ({ url, connections: connections.size, queueConsumers: clusterQueues!.consumerCounts(),
    connectionList: listConnections([...connections].slice(0, LISTED_CONNECTIONS)),
    subscriptionList: summarizedSubscriptions(connections),
  }));
  const base = `${https ? 'https' : 'http'}://${hostForUrl}:${port}`;
  const sdkUrl = { ...(web.sdk.built ? { sdk: `${base}${SDK_PATH}linden.js` } : {}), ...(web.console.built ? { console: `${base}/` } : {}) };
  announce(log, opts.logLevel).info({ url, ...sdkUrl, version: LINDEN_VERSION, protocol: PROTOCOL_VERSION }, 'broker listening');
  if (identity) log.info(identity.summary, 'TLS certificate loaded');
  warnIfExposed(opts, log);

  const parts: BrokerParts = {
    ctx,
    http,
    store,
    cluster,
    stopTimers() {
      clearInterval(heartbeat);
      handshakes.stop(); // the connections still in their handshake are closed next (refusals run on: unref'd, and they end sockets)
      slow.stop();
      rates.stop();
      scheduled.stop(); // nothing more falls due: the store closes next
    },
  };
  let stopping: Promise<void> | undefined;
  return {
    url,
    port,
    host: opts.host,
    log,
    async reloadTls() {
      if (!https || !opts.tls) throw new LindenError('INVALID_OPTIONS', 'the broker was started without the tls option: there is no certificate to reload');
      const next = await loadTlsIdentity(opts.tls);
      https.setSecureContext({ cert: next.cert, key: next.key });
      log.info(next.summary, 'TLS certificate reloaded');
    },
    drain(options = {}) {
      const ms = options.timeoutMs ?? opts.drainTimeoutMs;
      if (!Number.isInteger(ms) || ms < 0 || ms > MAX_DURATION_MS) {
        return Promise.reject(new LindenError('INVALID_OPTIONS', `drain timeoutMs must be an integer from 0 to ${MAX_DURATION_MS}, not ${String(ms).slice(0, 32)}`));
      }
      stopping ??= stopBroker(parts, ms, true);
      return stopping;
    },
    close() {
      stopping ??= stopBroker(parts, 0, false);
      return stopping;
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

/** Longest part of a client's value repeated in a refusal or a log line. */
const ECHO_CHARS = 200;

/** Answers an upgrade in HTTP instead, so the client (and its user) learns why. */
function refuseUpgrade(socket: Duplex, status: string, body: string): void {
  socket.end(`HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
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
