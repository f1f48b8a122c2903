import type { Connection } from '../connection.js';
import type { NodeSummaries } from '../cluster/node-summary.js';
import { unavailable } from '../cluster/redis-target.js';
import { listConnections, type ConnectionView } from './views.js';

/** A connection of some node of the cluster, and which (admin `connections` in cluster mode). */
export type ClusterConnectionView = ConnectionView & { node: string };

/**
 * Every node's connections: this node's as they are now, first, then the others' as their
 * summaries said (up to a second old, at most LISTED_CONNECTIONS per node).
 */
export async function clusterConnections(nodes: NodeSummaries, self: string, local: Iterable<Connection>): Promise<ClusterConnectionView[]> {
  let others;
  try {
    others = (await nodes.list()).filter((n) => !n.self);
  } catch (err) {
    throw unavailable(err);
  }
  const here = listConnections(local).map((c) => ({ ...c, node: self }));
  return [...here, ...others.flatMap((n) => (n.connectionList ?? []).map((c) => ({ ...c, node: n.node })))];
}

/** The node a connection id names: ids end with `-<node>` (the pub/sub core's prefix). */
export function nodeOfConnection(id: string): string | undefined {
  const dash = id.indexOf('-');
  return dash < 0 ? undefined : id.slice(dash + 1);
}
