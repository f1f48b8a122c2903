import type { RequestListener } from 'node:http';
import type { Histogram } from 'prom-client';
import { adminHandler } from './admin/http.js';
import { createMetrics } from './admin/metrics.js';
import type { WebFolders } from './admin/web-files.js';
import type { BrokerContext } from './broker-context.js';
import type { ClusterNode } from './cluster/cluster-node.js';
import type { ConnectionCaps } from './connection-caps.js';
import type { RetainedMessages } from './pubsub/retained-messages.js';
import type { SlowConsumers } from './slow-consumers.js';
import type { Store } from './store/store.js';
import { SUPPORTED } from './web-server.js';

/** What the admin side reads beyond the broker's context. */
export interface AdminParts {
  readonly web: WebFolders;
  readonly retained: RetainedMessages;
  readonly commits: Histogram;
  readonly slow: SlowConsumers;
  readonly caps: ConnectionCaps;
  readonly store: Store;
  /** Cluster mode: this broker's membership, with ctx.clusterQueues. */
  readonly cluster: ClusterNode | undefined;
}

/**
 * HTTP(S) on the same port: health, metrics and read-only views for operators, and the browser SDK.
 * Builds the handler and its metrics from the broker's parts.
 */
export function adminFor(ctx: BrokerContext, parts: AdminParts): RequestListener {
  const { options: opts, durable, spaces, scheduled, connections, rates, auth, clusterQueues } = ctx;
  const { web, retained, commits, slow, caps, store, cluster } = parts;
  return adminHandler({
    web,
    durable,
    retained,
    spaces,
    scheduled,
    connections,
    rates,
    metrics: createMetrics({
      pubsub: ctx.pubsub, durable, spaces, scheduled, connections, commits, auth, slow, caps, wills: ctx.wills,
      cluster: clusterQueues && cluster ? { queues: clusterQueues, nodes: cluster.summaries } : undefined,
    }),
    store: { kind: opts.dataDir ? 'lmdb' : 'memory', durable: store.durable },
    upgradeHint: `Linden speaks WebSocket here: connect with subprotocol ${SUPPORTED.join(' or ')}\n`,
    auth,
    metricsAuth: opts.metricsAuth,
    maxArity: opts.maxArity,
    cluster: clusterQueues && cluster ? { queues: clusterQueues, nodes: cluster.summaries, retained: cluster.retained } : undefined,
  });
}
