import type { Connection } from '../connection.js';
import type { NodeSummaries } from '../cluster/node-summary.js';
import { fromEveryNode } from './cluster-connections.js';
import { listSubscriptions, type SubscriptionView } from './views.js';

/** Subscribers of some node of the cluster, and which (admin `subscriptions` in cluster mode). */
export type ClusterSubscriptionView = SubscriptionView & { node: string };

/** Bounds on what a node's summary lists, so that it stays small enough to write every second. */
export const LISTED_SUBSCRIPTIONS = 500;
export const LISTED_SUBSCRIBER_IDS = 10;

/**
 * A node's subscriptions for its summary: at most LISTED_SUBSCRIPTIONS entries, each naming at
 * most LISTED_SUBSCRIBER_IDS connections (`subscribers` still counts them all).
 */
export function summarizedSubscriptions(local: Iterable<Connection>): SubscriptionView[] {
  return listSubscriptions(local).slice(0, LISTED_SUBSCRIPTIONS).map((s) =>
    s.connections.length <= LISTED_SUBSCRIBER_IDS ? s : { ...s, connections: s.connections.slice(0, LISTED_SUBSCRIBER_IDS) });
}

/**
 * Every node's subscriptions, one entry per node and (pattern, group, durable): this node's as
 * they are now, first, then the others' as their summaries said (up to a second old, bounded as
 * summarizedSubscriptions says).
 */
export function clusterSubscriptions(nodes: NodeSummaries, self: string, local: Iterable<Connection>): Promise<ClusterSubscriptionView[]> {
  return fromEveryNode(nodes, self, listSubscriptions(local), (n) => n.subscriptionList);
}
