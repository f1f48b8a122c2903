import type { AckLevel, PubFrame } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import type { OutboundMessage } from './outbound-message.js';
import type { RouteEntry, Subscription } from './subscription.js';

/**
 * What the pub/sub core sees of a cluster (DESIGN.md §5 "Cluster"): a bus that learns the local
 * interest and carries publishes to other nodes. The core knows nothing of Redis; a broker on its
 * own has no link, and its publish path pays one null check.
 */
export interface ClusterLink {
  /** Resolves once the other nodes know of the subscription (the `ok` waits for it); undefined when it need not wait. */
  subscribed(sub: Subscription): Promise<void> | undefined;
  unsubscribed(sub: Subscription): void;
  /** Whether a subscriber on another node matches `topic`. */
  hasInterest(topic: string): boolean;
  /**
   * Delivers a transient publish across the cluster, the local `entries` included, and answers
   * the publisher as the core would; false when no other node is interested (the core goes on).
   */
  publish(conn: Connection, f: PubFrame, ack: AckLevel, message: OutboundMessage, entries: RouteEntry[]): boolean;
}
