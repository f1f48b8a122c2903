import { CLOSE_CODES, LindenError } from '../../protocol/errors.js';
import type { AdminFrame, AdminOp, ReportFrame } from '../../protocol/frames.js';
import { doesNotExist } from '../../protocol/names.js';
import { findSpace, listConnections, listQueues, listSpaces, listSubscriptions, queueDetail, spaceDetail } from '../admin/views.js';
import type { BrokerContext } from '../broker-context.js';
import type { Connection } from '../connection.js';
import { audit } from './audit.js';
import { clusterView } from '../admin/cluster-view.js';
import { clusterConnections, nodeOfConnection } from '../admin/cluster-connections.js';
import { clusterSubscriptions } from '../admin/cluster-subscriptions.js';
import { clusterSpaceView, clusterSpacesView } from '../admin/cluster-space-admin.js';
import { clusterQueueView, clusterQueuesView } from '../admin/cluster-queue-admin.js';
import type { ClusterQueues } from '../cluster/durable/cluster-queues.js';
import type { NodeSummaries } from '../cluster/node-summary.js';

/*
 * Admin operations over the WebSocket protocol (protocol.md §17): the HTTP views, plus the
 * operations that change state — purge, dead-letter retry, kick. On a broker with users each op
 * needs admin rights, checked by dispatch before this handler (server/auth/authorize.ts).
 */

/** The fields each op needs (`need`) and the optional ones it takes (`may`); others are refused. */
const FIELDS: Record<AdminOp, { need?: 'name' | 'connection'; may?: 'peek' | 'scope' }> = {
  queues: {},
  queue: { need: 'name', may: 'peek' },
  spaces: {},
  space: { need: 'name', may: 'peek' },
  connections: { may: 'scope' },
  subscriptions: { may: 'scope' },
  cluster: {},
  purge: { need: 'name' },
  retry: { need: 'name' },
  kick: { need: 'connection' },
  streams: {},
  stream: { need: 'name' },
};

/** The close reason a kicked connection sees (with close code 4006). */
export const KICK_REASON = 'kicked by an operator';

export function admin(ctx: BrokerContext, conn: Connection, f: AdminFrame): void {
  checkFields(f);
  if (ctx.clusterQueues && ctx.clusterNodes && clusterOp(ctx.clusterQueues, ctx.clusterNodes, ctx, conn, f)) return;
  switch (f.op) {
    case 'queues':
      return report(conn, f, listQueues(ctx.durable, ctx.rates));
    case 'queue':
      return report(conn, f, queueDetail(ctx.durable, ctx.rates, ctx.durable.get(f.name!), f.peek));
    case 'spaces':
      return report(conn, f, listSpaces(ctx.spaces, ctx.rates));
    case 'space': {
      const space = findSpace(ctx.spaces, f.name!);
      if (!space) throw new LindenError('NOT_FOUND', doesNotExist('space', f.name!), { name: f.name });
      return report(conn, f, spaceDetail(ctx.rates, space, f.peek));
    }
    case 'connections':
      return report(conn, f, listConnections(ctx.connections));
    case 'subscriptions':
      return report(conn, f, listSubscriptions(ctx.connections));
    case 'cluster':
      return void clusterView(ctx).then((view) => report(conn, f, view), (err: unknown) => conn.sendError(err, f.id));
    case 'purge': {
      const { purged, durable } = ctx.durable.purge(f.name!);
      audit(ctx, conn, 'purge', { queue: f.name, purged }, durable);
      return reportWhenStored(conn, f, { purged }, durable);
    }
    case 'retry': {
      const { moved, remaining, durable } = ctx.durable.retryDeadLetters(f.name!);
      audit(ctx, conn, 'retry', { queue: f.name, moved, remaining }, durable);
      return reportWhenStored(conn, f, { moved, remaining }, durable);
    }
    case 'kick':
      return kick(ctx, conn, f);
    case 'streams':
      return report(conn, f, ctx.durable.streams.list());
    case 'stream':
      return report(conn, f, ctx.durable.streams.info(f.name!));
  }
}

/**
 * Cluster mode: the queue and space views and the queue operations act on what Redis holds, for
 * the whole cluster (the local store is empty there), and `connections` and `subscriptions` list
 * every node's. False for the ops
 * answered as on a broker of its own.
 */
function clusterOp(queues: ClusterQueues, nodes: NodeSummaries, ctx: BrokerContext, conn: Connection, f: AdminFrame): boolean {
  const answer = (work: Promise<unknown>) => void work.then((result) => report(conn, f, result), (err: unknown) => conn.sendError(err, f.id));
  switch (f.op) {
    case 'queues':
      answer(clusterQueuesView(queues, nodes));
      return true;
    case 'queue':
      answer(clusterQueueView(queues, nodes, f.name!, f.peek));
      return true;
    case 'purge':
      answer(queues.purge(f.name!).then((purged) => {
        audit(ctx, conn, 'purge', { queue: f.name, purged });
        return { purged };
      }));
      return true;
    case 'retry':
      answer(queues.retry(f.name!).then(({ moved, remaining }) => {
        audit(ctx, conn, 'retry', { queue: f.name, moved, remaining });
        return { moved, remaining };
      }));
      return true;
    // `scope: "node"`: the asked node's own, as a broker on its own answers.
    case 'connections':
      if (f.scope === 'node') return false;
      answer(clusterConnections(nodes, queues.node, ctx.connections));
      return true;
    case 'subscriptions':
      if (f.scope === 'node') return false;
      answer(clusterSubscriptions(nodes, queues.node, ctx.connections));
      return true;
    case 'spaces':
      answer(clusterSpacesView(queues.redis));
      return true;
    case 'space':
      answer(clusterSpaceView(queues.redis, f.name!, ctx.options.maxArity, f.peek));
      return true;
    // The streams are in Redis too (server/cluster/streams/).
    case 'streams':
      answer(queues.streams.list());
      return true;
    case 'stream':
      answer(queues.streams.info(f.name!));
      return true;
    default:
      return false;
  }
}

/** Closes the connection named with 4006; `ok` to the asker, before the close when it kicks itself. */
function kick(ctx: BrokerContext, conn: Connection, f: AdminFrame): void {
  const target = [...ctx.connections].find((c) => c.id === f.connection);
  const node = nodeOfConnection(f.connection!);
  if (!target && ctx.clusterKick && node !== undefined && node !== ctx.clusterQueues?.node) return kickElsewhere(ctx, ctx.clusterKick, conn, f, node);
  if (!target) throw new LindenError('NOT_FOUND', doesNotExist('connection', f.connection!), { connection: f.connection });
  audit(ctx, conn, 'kick', { target: target.id, targetClient: target.name });
  if (target === conn) conn.sendFrame({ t: 'ok', re: f.id });
  ctx.closeConnection(target, CLOSE_CODES.KICKED.code, KICK_REASON);
  if (target !== conn) conn.sendFrame({ t: 'ok', re: f.id });
}

/** Cluster mode: the connection's node closes it (over the bus) and says whether it had it. */
function kickElsewhere(ctx: BrokerContext, clusterKick: NonNullable<BrokerContext['clusterKick']>, conn: Connection, f: AdminFrame, node: string): void {
  void clusterKick(node, f.connection!).then((found) => {
    if (!found) return conn.sendError(new LindenError('NOT_FOUND', `${doesNotExist('connection', f.connection!)} (node ${node} does not have it, or did not answer)`, { connection: f.connection }), f.id);
    audit(ctx, conn, 'kick', { target: f.connection, node });
    conn.sendFrame({ t: 'ok', re: f.id });
  });
}

function checkFields(f: AdminFrame): void {
  const { need, may } = FIELDS[f.op];
  for (const field of ['name', 'connection', 'peek', 'scope'] as const) {
    if (field === need && f[field] === undefined) throw invalid(f, field, 'is required');
    if (field !== need && field !== may && f[field] !== undefined) throw invalid(f, field, 'is not used');
  }
}

function invalid(f: AdminFrame, field: string, problem: string): LindenError {
  return new LindenError('INVALID_FRAME', `invalid "admin" message: field "${field}" ${problem} by op "${f.op}"`, { t: 'admin', field });
}

/** Views are JSON documents, the same the HTTP API serves, whichever codec the connection speaks. */
function report(conn: Connection, f: AdminFrame, result: unknown): void {
  const frame: ReportFrame = { t: 'report', re: f.id, op: f.op, result };
  conn.sendFrame(frame);
}

/** Operations that change the store answer once the change is on disk. */
function reportWhenStored(conn: Connection, f: AdminFrame, result: unknown, durable: Promise<void> | undefined): void {
  if (!durable) report(conn, f, result);
  else durable.then(() => report(conn, f, result), (err: unknown) => conn.sendError(err, f.id));
}
