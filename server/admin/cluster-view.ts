import { unavailable } from '../cluster/redis-target.js';
import type { ClusterQueueDepth } from '../cluster/durable/queue-depths.js';
import type { NodeSummary } from '../cluster/node-summary.js';
import type { BrokerContext } from '../broker-context.js';

/** The admin `cluster` view (protocol.md §17.2): every live node, and the durable queues as Redis holds them. */
export interface ClusterView {
  /** This node's id; null on a broker without the `redis` option. */
  node: string | null;
  /** Live nodes, this one first (`self: true`); empty on a broker on its own. */
  nodes: (NodeSummary & { self: boolean })[];
  queues: ClusterQueueDepth[];
}

export async function clusterView(ctx: BrokerContext): Promise<ClusterView> {
  const nodes = ctx.clusterNodes;
  if (!nodes || !ctx.clusterQueues) return { node: null, nodes: [], queues: [] };
  try {
    const [list, queues] = await Promise.all([nodes.list(), ctx.clusterQueues.depths()]);
    return { node: ctx.clusterQueues.node, nodes: list, queues };
  } catch (err) {
    throw unavailable(err);
  }
}
