import type { Connection } from '../connection.js';
import type { NodeSummaries, NodeSummary } from '../cluster/node-summary.js';
import { unavailable } from '../cluster/redis-target.js';
import { listConnections, type ConnectionView } from './views.js';

/** A connection of some node of the cluster, and which (admin `connections` in cluster mode). */
export type ClusterConnectionView = ConnectionView & { node: string };

/**
 * Every node's connections: this node's as they are now, first, then the others' as their
 * summaries said (up to a second old, at most LISTED_CONNECTIONS per node).
 */
export function clusterConnections(nodes: NodeSummaries, self: string, local: Iterable<Connection>): Promise<ClusterConnectionView[]> {
  return fromEveryNode(nodes, self, listConnections(local), (n) => n.connectionList);
}

/**
 * A view of every node, each entry with the node holding it: `here` (this node's, as it is now)
 * first, then what the other live nodes' summaries listed. Redis unreachable: STORE_UNAVAILABLE.
 */
export async function fromEveryNode<V extends object>(
  nodes: NodeSummaries, self: string, here: readonly V[], listed: (summary: NodeSummary) => readonly V[] | undefined,
): Promise<(V & { node: string })[]> {
  let others;
  try {
    others = (await nodes.list()).filter((n) => !n.self);
  } catch (err) {
    throw unavailable(err);
  }
  return [...here.map((v) => ({ ...v, node: self })), ...others.flatMap((n) => (listed(n) ?? []).map((v) => ({ ...v, node: n.node })))];
}

/** The node a connection id names: ids end with `-<node>` (the pub/sub core's prefix). */
export function nodeOfConnection(id: string): string | undefined {
  const dash = id.indexOf('-');
  return dash < 0 ? undefined : id.slice(dash + 1);
}
