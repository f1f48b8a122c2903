import type { Logger } from 'pino';
import type { CodecName } from '../protocol/version.js';
import type { FrameValidator } from '../protocol/validate.js';
import type { RateSampler } from './admin/rates.js';
import type { Authenticator } from './auth/authenticator.js';
import type { Connection } from './connection.js';
import type { ResolvedOptions } from './options.js';
import type { DurableCore } from './pubsub/durable/durable-core.js';
import type { ClusterQueues } from './cluster/durable/cluster-queues.js';
import type { NodeSummaries } from './cluster/node-summary.js';
import type { PubSubCore } from './pubsub/pubsub-core.js';
import type { Scheduler } from './scheduled/scheduler.js';
import type { SpaceCore } from './space/space-core.js';
import type { Turns } from './turns.js';
import type { Wills } from './wills.js';

/** What handlers need from the broker, and nothing more. */
export interface BrokerContext {
  readonly options: ResolvedOptions;
  readonly log: Logger;
  readonly pubsub: PubSubCore;
  readonly durable: DurableCore;
  /** Cluster mode (the `redis` option): durable queues and persistent messages in Redis instead of `durable`. */
  readonly clusterQueues: ClusterQueues | undefined;
  /** Cluster mode: what every node of the cluster says of itself (admin `cluster`); set once the node joined. */
  clusterNodes: NodeSummaries | undefined;
  /** Cluster mode: admin `kick` of a connection on another node, over the bus; resolves with whether it was there. */
  clusterKick: ((node: string, connection: string) => Promise<boolean>) | undefined;
  readonly spaces: SpaceCore;
  /** Scheduled publishes and outs (`delay`, `deliverAt`), until they are due. */
  readonly scheduled: Scheduler;
  /** Last wills of the connections, and those waiting out their delay (protocol.md §4.8). */
  readonly wills: Wills;
  readonly validators: Record<CodecName, FrameValidator>;
  readonly version: string;
  /** Logs connections in and knows whether the broker has users (protocol.md §4.7). */
  readonly auth: Authenticator;
  /** Open connections, for the admin views and `kick` (handlers/admin.ts). */
  readonly connections: ReadonlySet<Connection>;
  /** Rates for the admin views. */
  readonly rates: RateSampler;
  closeConnection(conn: Connection, code: number, reason: string): void;
  /** `conn` said hello in time: its handshake deadline is off. */
  handshakeDone(conn: Connection): void;
  /** Handles nothing more of `conn` until `until` settles, keeping what arrives meanwhile in order. */
  holdInbound(conn: Connection, until: Promise<unknown>): void;
  /** Connections take turns at their inbound work (DESIGN.md §5 "Fairness"). */
  readonly turns: Turns;
  /** While the broker drains (server/drain.ts): when it closes its connections, in ms since the epoch. */
  draining: number | undefined;
}
