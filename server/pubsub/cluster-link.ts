import type { AckLevel, PubFrame } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import type { OutboundMessage } from './outbound-message.js';
import type { Payload } from './payload.js';
import type { ReceiptTracker } from './receipt-tracker.js';
import type { RouteEntry, Subscription } from './subscription.js';

/**
 * What the pub/sub core sees of a cluster (DESIGN.md §5 "Cluster"): a bus that learns the local
 * interest and carries publishes to other nodes. The core knows nothing of Redis; a broker on its
 * own has no link, and its publish path pays one null check.
 */
/** What the metrics show of a node's place in its cluster. */
export interface ClusterStats {
  /** Subscribed to its own channel on Redis: messages and reports from other nodes reach it. */
  readonly connected: boolean;
  /** Other live nodes whose interest it holds. */
  readonly nodes: number;
  /** Messages sent to other nodes' channels (one per node a publish reached) and received from them. */
  readonly sent: number;
  readonly received: number;
}

/** What Redis stored of a persistent publish (ClusterQueues.publish), for ClusterLink.publish. */
export interface Stored {
  readonly queues: readonly string[];
  readonly tracker: ReceiptTracker | undefined;
}

export interface ClusterLink {
  readonly stats: ClusterStats;
  /** Resolves once the other nodes know of the subscription (the `ok` waits for it); undefined when it need not wait. */
  subscribed(sub: Subscription): Promise<void> | undefined;
  unsubscribed(sub: Subscription): void;
  /** Whether a subscriber on another node matches `topic`. */
  hasInterest(topic: string): boolean;
  /**
   * Delivers a publish across the cluster, the local `entries` included, and answers the
   * publisher as the core would; false when no other node is interested (the core goes on).
   * `persistent`: a persistent message Redis has stored, in `queues`; the receipt counts and names
   * them, and `tracker` (delivery, processing) already waits for them.
   */
  publish(conn: Connection, f: PubFrame, ack: AckLevel, message: OutboundMessage, entries: RouteEntry[], persistent?: Stored): boolean;
}

/**
 * Retained messages in cluster mode (server/cluster/cluster-retained.ts): kept in Redis, heard
 * by every node in one sequence, so a snapshot and the live messages after it meet exactly.
 */
export interface RetainedLink {
  /**
   * A `pub` with retain: stored in Redis, then delivered by every node to its subscribers as it
   * hears it. Never rejects: a refusal goes to the publisher as `err`. Resolves once this node
   * has delivered it, so the publisher's next messages (held until then) keep their order.
   */
  publish(conn: Connection, f: PubFrame, ack: AckLevel, mid: string, payload: Payload): Promise<void>;
  /** Delivers the retained messages a new subscription matches, then lets live ones through; rejects when Redis cannot be read. */
  snapshot(conn: Connection, sub: Subscription): Promise<void>;
}
