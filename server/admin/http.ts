import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { MAX_PEEK } from '../../protocol/frames.js';
import { doesNotExist } from '../../protocol/names.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { Connection } from '../connection.js';
import type { DurableCore } from '../pubsub/durable/durable-core.js';
import type { RetainedMessages, RetainedView } from '../pubsub/retained-messages.js';
import { assertPattern } from '../../protocol/topics.js';
import type { SpaceCore } from '../space/space-core.js';
import type { RateSampler } from './rates.js';
import { LindenError } from '../../protocol/errors.js';
import type { ClusterQueues } from '../cluster/durable/cluster-queues.js';
import type { NodeSummaries } from '../cluster/node-summary.js';
import { clusterQueueView, clusterQueuesView } from './cluster-queue-admin.js';
import { clusterConnections } from './cluster-connections.js';
import { clusterSubscriptions } from './cluster-subscriptions.js';
import { clusterSpaceView, clusterSpacesView } from './cluster-space-admin.js';
import { CONSOLE_PATH, EXAMPLES_PATH, SDK_PATH, webFolders, type WebFiles, type WebFolders } from './web-files.js';
import { rootPage } from './root-page.js';
import type { Scheduler } from '../scheduled/scheduler.js';
import { findSpace, listConnections, listQueues, listSpaces, listSubscriptions, queueDetail, spaceDetail } from './views.js';

export interface AdminSources {
  readonly durable: DurableCore;
  /** Retained last values, for /api/retained (this node's: cluster mode keeps none). */
  readonly retained?: RetainedMessages;
  readonly spaces: SpaceCore;
  readonly connections: ReadonlySet<Connection>;
  readonly metrics: Registry;
  /** Publish/ack and out/in rates for the views. */
  readonly rates: RateSampler;
  /** Which store keeps the data, for /healthz. */
  readonly store: { kind: 'lmdb' | 'memory'; durable: boolean };
  /** The text a plain GET of / answers with 426: this port speaks WebSocket. */
  readonly upgradeHint: string;
  /** What browsers load: the SDK at /sdk/linden.js, the console at / and /console/, the browser examples at /examples/. */
  readonly web?: WebFolders;
  /** Who may read /api (admins, by bearer token or JWT) once the broker has users. */
  readonly auth: Authenticator;
  /** /metrics needs an admin's bearer token too (option `metricsAuth`). */
  readonly metricsAuth: boolean;
  /** Fields per tuple at most (option `maxArity`): a cluster-mode space peek reads every arity's index up to it. */
  readonly maxArity: number;
  /** Scheduled publishes and outs not yet due (/api/scheduled). */
  readonly scheduled: Scheduler;
  /** Cluster mode: /api/queues and /api/spaces answer from Redis, and /api/connections and /api/subscriptions list every node's (protocol.md §17.7). */
  readonly cluster?: {
    readonly queues: ClusterQueues; readonly nodes: NodeSummaries;
    /** Retained messages in Redis (/api/retained). */
    readonly retained?: { list(pattern: string): Promise<{ topics: number; bytes: number; retained: RetainedView[] }> };
  };
}

type Route = (req: IncomingMessage, res: ServerResponse, name: string | undefined) => Promise<void> | void;

/**
 * The HTTP side of the broker's port: health, Prometheus metrics and read-only JSON views.
 * Nothing here changes state; mutations belong to the WebSocket protocol, where rights can be
 * checked per operation. Request bodies are never read.
 */
export function adminHandler(src: AdminSources): (req: IncomingMessage, res: ServerResponse) => void {
  const routes: Record<string, Route> = {
    '/healthz': (_req, res) => json(res, 200, { status: 'ok', store: src.store.kind, durable: src.store.durable }),
    '/metrics': async (_req, res) => {
      const text = await src.metrics.metrics();
      res.writeHead(200, { 'content-type': src.metrics.contentType });
      res.end(text);
    },
    '/api/queues': (req, res, name) => {
      if (src.cluster) return clusterQueues(src.cluster, req, res, name);
      if (name === undefined) return json(res, 200, listQueues(src.durable, src.rates));
      const peek = peekOf(req, res);
      if (peek === undefined) return;
      const q = src.durable.queues.get(name);
      if (!q) return notFound(res, doesNotExist('queue', name));
      json(res, 200, queueDetail(src.durable, src.rates, q, peek));
    },
    '/api/spaces': (req, res, name) => {
      if (src.cluster) return clusterSpaces(src.cluster.queues.redis, src.maxArity, req, res, name);
      if (name === undefined) return json(res, 200, listSpaces(src.spaces, src.rates));
      const peek = peekOf(req, res);
      if (peek === undefined) return;
      const s = findSpace(src.spaces, name);
      if (!s) return notFound(res, doesNotExist('space', name));
      json(res, 200, spaceDetail(src.rates, s, peek));
    },
    '/api/streams': async (_req, res, name) => {
      if (src.cluster) return clusterStreams(src.cluster.queues.streams, res, name);
      const streams = src.durable.streams;
      if (name === undefined) return json(res, 200, streams.list());
      if (!streams.streams.has(name)) return notFound(res, doesNotExist('stream', name));
      json(res, 200, streams.info(name));
    },
    '/api/retained': async (req, res, name) => {
      if (name !== undefined) return notFound(res, `no route ${req.url}`);
      const pattern = new URL(req.url ?? '/', 'http://localhost').searchParams.get('pattern') ?? '>';
      try {
        assertPattern(pattern);
      } catch (err) {
        return json(res, 400, { error: 'BAD_REQUEST', message: (err as Error).message });
      }
      const inRedis = src.cluster?.retained;
      if (inRedis) return orUnavailable(res, async () => ({ pattern, ...await inRedis.list(pattern) }));
      const retained = src.retained?.list(pattern) ?? [];
      json(res, 200, { pattern, topics: src.retained?.count ?? 0, bytes: src.retained?.totalBytes ?? 0, retained });
    },
    '/api/scheduled': async (req, res, name) => {
      if (name === undefined) return orUnavailable(res, () => src.scheduled.list());
      const one = await src.scheduled.find(name);
      if (!one) return notFound(res, `nothing scheduled with id "${name.slice(0, 64)}" (unknown, cancelled, or already delivered)`);
      json(res, 200, one);
    },
    '/api/subscriptions': async (req, res, name) => {
      if (name !== undefined) return notFound(res, `no route ${req.url}`);
      const scope = scopeOf(req, res);
      if (scope === undefined) return;
      if (!src.cluster || scope === 'node') return json(res, 200, listSubscriptions(src.connections));
      await orUnavailable(res, async () => clusterSubscriptions(src.cluster!.nodes, src.cluster!.queues.node, src.connections));
    },
    '/api/connections': async (req, res, name) => {
      if (name !== undefined) return notFound(res, `no route ${req.url}`);
      const scope = scopeOf(req, res);
      if (scope === undefined) return;
      if (!src.cluster || scope === 'node') return json(res, 200, listConnections(src.connections));
      await orUnavailable(res, async () => clusterConnections(src.cluster!.nodes, src.cluster!.queues.node, src.connections));
    },
  };

  const web = src.web ?? webFolders();
  const folders: [string, WebFiles][] = [[SDK_PATH, web.sdk], [CONSOLE_PATH, web.console], [EXAMPLES_PATH, web.examples]];
  return (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const readOnly = req.method === 'GET' || req.method === 'HEAD';
    if (path === '/') {
      // A browser gets the console (or, unbuilt, a page saying where the SDK is); any other client the 426 it always got.
      if (readOnly && /\btext\/html\b/.test(req.headers.accept ?? '')) {
        if (web.console.built) return web.console.serve(req, res, 'index.html');
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' });
        res.end(req.method === 'HEAD' ? undefined : rootPage(src.upgradeHint));
        return;
      }
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
      res.end(src.upgradeHint);
      return;
    }
    for (const [prefix, files] of folders) {
      if (path.startsWith(prefix)) return readOnly ? files.serve(req, res, path.slice(prefix.length)) : readOnlyRefused(res);
    }
    const match = /^(\/[a-z]+(?:\/[a-z]+)?)(?:\/([^/]+))?\/?$/.exec(path);
    let route = match ? routes[match[1]!] : undefined;
    let name = match?.[2];
    // "/healthz/x" and the like have no second segment; only /api/<collection>/<name> does.
    if (route && name !== undefined && !match![1]!.startsWith('/api/')) route = undefined;
    if (!route) return notFound(res, `no route ${path}`);
    if (!readOnly) return readOnlyRefused(res);
    const guarded = path.startsWith('/api/') || (path === '/metrics' && src.metricsAuth);
    if (guarded && src.auth.enabled) {
      void admitted(src.auth, req, res).then((ok) => { if (ok) answer(route!, req, res, name); });
      return;
    }
    answer(route, req, res, name);
  };
}

/**
 * Whether the request carries an admin's credentials (`Authorization: Bearer <token or JWT>`);
 * answers 401 or 403 when not. /healthz stays open: load balancers probe it.
 */
async function admitted(auth: Authenticator, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const header = req.headers.authorization ?? '';
  const bearer = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
  const basic = /^Basic\s+(\S+)$/i.exec(header)?.[1];
  if (bearer === undefined && basic === undefined) {
    res.setHeader('www-authenticate', 'Bearer realm="linden"');
    json(res, 401, { error: 'AUTH_FAILED', message: 'this broker has users: send an admin\'s Authorization: Bearer <token or JWT>, or Basic <user:password>' });
    return false;
  }
  try {
    const principal = await auth.authenticate(bearer === undefined ? basicCredentials(basic!) : bearer.split('.').length === 3 ? { jwt: bearer } : { token: bearer });
    if (principal.permissions.may('admin', 'http')) return true;
    json(res, 403, { error: 'PERMISSION_DENIED', message: `user "${principal.user ?? 'anonymous'}" is not an admin` });
  } catch {
    res.setHeader('www-authenticate', 'Bearer realm="linden", error="invalid_token"');
    json(res, 401, { error: 'AUTH_FAILED', message: 'authentication failed' });
  }
  return false;
}

/** `user:password` of a Basic header; a user name cannot hold a colon, a password can. */
function basicCredentials(encoded: string): { user: string; password: string } {
  const text = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? { user: text, password: '' } : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

function answer(route: Route, req: IncomingMessage, res: ServerResponse, name: string | undefined): void {
  if (name !== undefined) {
    try {
      name = decodeURIComponent(name);
    } catch {
      return json(res, 400, { error: 'BAD_REQUEST', message: 'malformed percent-encoding in the name' });
    }
  }
  Promise.resolve(route(req, res, name)).catch((err: unknown) => {
    if (!res.headersSent) json(res, 500, { error: 'INTERNAL_ERROR', message: err instanceof Error ? err.message : String(err) });
    else res.destroy();
  });
}

async function clusterQueues(cluster: NonNullable<AdminSources['cluster']>, req: IncomingMessage, res: ServerResponse, name: string | undefined): Promise<void> {
  const peek = name === undefined ? 0 : peekOf(req, res);
  if (peek === undefined) return;
  await orUnavailable(res, () => (name === undefined ? clusterQueuesView(cluster.queues, cluster.nodes) : clusterQueueView(cluster.queues, cluster.nodes, name, peek)));
}

async function clusterSpaces(redis: Redis, maxArity: number, req: IncomingMessage, res: ServerResponse, name: string | undefined): Promise<void> {
  const peek = name === undefined ? 0 : peekOf(req, res);
  if (peek === undefined) return;
  await orUnavailable(res, () => (name === undefined ? clusterSpacesView(redis) : clusterSpaceView(redis, name, maxArity, peek)));
}

/** Cluster mode: the streams are in Redis (server/cluster/streams/). */
async function clusterStreams(streams: ClusterQueues['streams'], res: ServerResponse, name: string | undefined): Promise<void> {
  await orUnavailable(res, () => (name === undefined ? streams.list() : streams.info(name)));
}

/** A cluster-mode view read from Redis: 404 for NOT_FOUND, 503 while Redis is away (STORE_UNAVAILABLE). */
async function orUnavailable(res: ServerResponse, view: () => Promise<unknown>): Promise<void> {
  try {
    json(res, 200, await view());
  } catch (err) {
    if (!(err instanceof LindenError)) throw err;
    if (err.code === 'NOT_FOUND') return notFound(res, err.message);
    json(res, 503, { error: err.code, message: err.message });
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

/**
 * `?peek=N` of a detail view (N from 1 to MAX_PEEK), 0 without it; undefined after answering 400
 * for a bad value. Reading messages without consuming them changes nothing, so it is a GET.
 */
function peekOf(req: IncomingMessage, res: ServerResponse): number | undefined {
  const value = new URL(req.url ?? '/', 'http://localhost').searchParams.get('peek');
  if (value === null) return 0;
  const n = Number(value);
  if (/^\d+$/.test(value) && n >= 1 && n <= MAX_PEEK) return n;
  json(res, 400, { error: 'BAD_REQUEST', message: `peek must be an integer from 1 to ${MAX_PEEK}` });
  return undefined;
}

/** `?scope=node` (the asked node's own) or `cluster` (the default); undefined after answering 400 for another value. */
function scopeOf(req: IncomingMessage, res: ServerResponse): 'cluster' | 'node' | undefined {
  const value = new URL(req.url ?? '/', 'http://localhost').searchParams.get('scope') ?? 'cluster';
  if (value === 'cluster' || value === 'node') return value;
  json(res, 400, { error: 'BAD_REQUEST', message: 'scope must be "cluster" or "node"' });
  return undefined;
}

function readOnlyRefused(res: ServerResponse): void {
  res.setHeader('allow', 'GET, HEAD');
  json(res, 405, { error: 'METHOD_NOT_ALLOWED', message: 'the admin API is read-only' });
}

function notFound(res: ServerResponse, message: string): void {
  json(res, 404, { error: 'NOT_FOUND', message });
}
