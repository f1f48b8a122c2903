import type { ClusterQueues } from '../cluster/durable/cluster-queues.js';
import { clusterQueueDetail, clusterQueueViews, type ClusterConsumers } from '../cluster/durable/queue-views.js';
import type { NodeSummaries } from '../cluster/node-summary.js';
import { unavailable } from '../cluster/redis-target.js';
import type { QueueDetail, QueueView } from './views.js';

/*
 * The admin `queues` and `queue` views in cluster mode (protocol.md §17.7): the durable queues
 * as Redis holds them for every node, in the shapes a broker on its own answers with.
 */

/** `limit`: the first queues by name only (metrics read at most so many). */
export async function clusterQueuesView(queues: ClusterQueues, nodes: NodeSummaries, limit = Infinity): Promise<QueueView[]> {
  const defs = queues.definitions();
  const some = defs.length <= limit ? defs : [...defs].sort((a, b) => (a.name < b.name ? -1 : 1)).slice(0, limit);
  try {
    return await clusterQueueViews(queues.redis, some, await consumers(queues, nodes));
  } catch (err) {
    throw unavailable(err);
  }
}

export async function clusterQueueView(queues: ClusterQueues, nodes: NodeSummaries, name: string, peek?: number): Promise<QueueDetail> {
  const def = await queues.find(name);
  try {
    return await clusterQueueDetail(queues.redis, def, await consumers(queues, nodes), peek);
  } catch (err) {
    throw unavailable(err);
  }
}

/** This node's consumers as they are now; the other live nodes' as their summaries said (up to a second old). */
async function consumers(queues: ClusterQueues, nodes: NodeSummaries): Promise<ClusterConsumers> {
  const here = queues.consumerCounts();
  const elsewhere = new Map<string, number>();
  for (const node of await nodes.list()) {
    if (node.self) continue;
    for (const [name, n] of Object.entries(node.queueConsumers ?? {})) elsewhere.set(name, (elsewhere.get(name) ?? 0) + n);
  }
  return {
    count: (name) => (here[name] ?? 0) + (elsewhere.get(name) ?? 0),
    local: (name) => queues.localConsumers(name),
  };
}
