import type { Logger } from 'pino';
import { CLOSE_CODES } from '../protocol/errors.js';
import { summarizedSubscriptions } from './admin/cluster-subscriptions.js';
import { listConnections } from './admin/views.js';
import type { BrokerContext } from './broker-context.js';
import { joinCluster, type ClusterNode } from './cluster/cluster-node.js';
import { ClusterQueues } from './cluster/durable/cluster-queues.js';
import { LISTED_CONNECTIONS } from './cluster/node-summary.js';
import { openRedis, type RedisTarget } from './cluster/redis-target.js';
import type { Connection } from './connection.js';
import { KICK_REASON } from './handlers/admin.js';
import type { ResolvedOptions } from './options.js';
import type { Scheduler } from './scheduled/scheduler.js';

/**
 * Cluster mode: one node id, the bus's and the queues', and one command connection they share.
 * Opened before the broker's context, which the pub/sub core takes them into.
 */
export async function openClusterQueues(
  redisTarget: RedisTarget | undefined, instance: string, opts: ResolvedOptions, log: Logger, scheduled: Scheduler,
): Promise<ClusterQueues | undefined> {
  const clusterQueues = redisTarget && new ClusterQueues(instance, redisTarget, openRedis(redisTarget, `linden:${instance}`), opts, log.child({ component: 'cluster-queues' }));
  await clusterQueues?.start();
  if (clusterQueues) scheduled.useCluster(clusterQueues.redis);
  return clusterQueues;
}

/**
 * Cluster mode (DESIGN.md §5): the pub/sub core gets a bus to the other nodes; the node id is this
 * start's. Hooks the node's kicks and last-will returns up to the broker's connections and wills.
 */
export function joinBrokerCluster(
  ctx: BrokerContext, redisTarget: RedisTarget | undefined, instance: string, connections: ReadonlySet<Connection>,
): ClusterNode | undefined {
  const { clusterQueues } = ctx;
  const cluster: ClusterNode | undefined = redisTarget && clusterQueues
    ? joinCluster(redisTarget, clusterQueues.redis, instance, ctx.pubsub, ctx.spaces, ctx.options, ctx.log.child({ component: 'cluster' }), clusterQueues)
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
  return cluster;
}

/** Once the broker listens: what this node says of itself to the others (admin `cluster`). */
export function startSummaries(cluster: ClusterNode | undefined, clusterQueues: ClusterQueues | undefined, url: string, connections: ReadonlySet<Connection>): void {
  cluster?.summaries.start(() => ({ url, connections: connections.size, queueConsumers: clusterQueues!.consumerCounts(),
    connectionList: listConnections([...connections].slice(0, LISTED_CONNECTIONS)),
    subscriptionList: summarizedSubscriptions(connections),
  }));
}
