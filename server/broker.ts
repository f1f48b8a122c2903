import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { LindenError } from '../protocol/errors.js';
import { MAX_DURATION_MS } from '../protocol/limits.js';
import { FrameValidator } from '../protocol/validate.js';
import { LINDEN_VERSION, PROTOCOL_VERSION } from '../protocol/version.js';
import { commitHistogram, timeCommits } from './admin/commit-timer.js';
import { Authenticator } from './auth/authenticator.js';
import { SDK_PATH, webFolders } from './admin/web-files.js';
import { RateSampler } from './admin/rates.js';
import { adminFor } from './admin-wiring.js';
import type { BrokerContext } from './broker-context.js';
import type { Census } from './census.js';
import { joinBrokerCluster, openClusterQueues, startSummaries } from './cluster-wiring.js';
import type { Connection } from './connection.js';
import { ConnectionCaps } from './connection-caps.js';
import { handleSlice } from './dispatch.js';
import { stopBroker, type BrokerParts } from './drain.js';
import { warnIfExposed } from './exposure.js';
import { FlushScheduler } from './flush-scheduler.js';
import { resolveOptions, type BrokerOptions, type ResolvedOptions } from './options.js';
import { SlowConsumers } from './slow-consumers.js';
import { createSockets } from './sockets.js';
import { DurableCore } from './pubsub/durable/durable-core.js';
import { RetainedMessages } from './pubsub/retained-messages.js';
import { PubSubCore } from './pubsub/pubsub-core.js';
import { parseRedisTarget } from './cluster/redis-target.js';
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
import { createWebServer } from './web-server.js';
import { instanceId } from './instance-id.js';

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
  const instance = instanceId();
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
  const clusterQueues = await openClusterQueues(redisTarget, instance, opts, log, scheduled);
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
      sockets.close(conn, code, reason);
    },
    handshakeDone(conn) {
      sockets.handshakeDone(conn);
    },
    turns: new Turns((conn, budget) => handleSlice(ctx, conn, budget), () => scheduler.flushNow()),
    draining: undefined,
  };
  seams.census?.attach(ctx);
  scheduled.start();
  const cluster = joinBrokerCluster(ctx, redisTarget, instance, connections);

  const slow = new SlowConsumers(connections, opts.writeDeadlineMs, log, ctx.closeConnection);
  const sockets = createSockets(ctx, {
    connections, caps, scheduler, instance, census: seams.census,
    closeSlow: (conn, reason) => slow.close(conn, 'events', reason),
  });
  const web = webFolders();
  const handler = adminFor(ctx, { web, retained, commits, slow, caps, store, cluster });
  const { http, https } = createWebServer(ctx, identity, handler, sockets.accept);

  await new Promise<void>((resolve, reject) => {
    http.once('error', (err) => {
      sockets.stop();
      ctx.wills.stop();
      sockets.stopRefusals();
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
  startSummaries(cluster, clusterQueues, url, connections);
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
      sockets.stop(); // heartbeat and handshake deadlines: the connections still in their handshake are closed next (refusals run on: unref'd, and they end sockets)
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
