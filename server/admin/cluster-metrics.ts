import type { ClusterQueues } from '../cluster/durable/cluster-queues.js';
import type { NodeSummaries, NodeSummary } from '../cluster/node-summary.js';
import { clusterSpaceViews } from '../cluster/space-views.js';
import { clusterQueuesView } from './cluster-queue-admin.js';
import type { QueueView, SpaceView } from './views.js';

/** How long one reading of Redis serves the scrapes: several scrapers, or a fast one, cost one reading. */
const FRESH_MS = 2_000;
/** Durable queues a scrape reports at most (the first by name), so a scrape stays one bounded round trip. */
export const METRIC_QUEUES = 1_000;

/** What the cluster-mode series read at scrape time: the durable queues, the tuple spaces and the live nodes, as Redis holds them. */
export interface ClusterReading {
  queues: QueueView[];
  /** At most LISTED_SPACES (space-registry.ts). */
  spaces: SpaceView[];
  nodes: NodeSummary[];
}

/**
 * Cluster mode: reads the queues, the spaces and the node summaries from Redis for /metrics, at most once
 * every FRESH_MS (the scrapes between share the reading, or the one under way). While Redis is
 * away the reading is empty, so the series vanish rather than show old values.
 */
export function clusterReader(queues: ClusterQueues, nodes: NodeSummaries): () => Promise<ClusterReading> {
  let reading: Promise<ClusterReading> | undefined;
  let readAt = 0;
  return () => {
    const now = Date.now();
    if (!reading || now - readAt >= FRESH_MS) {
      readAt = now;
      reading = Promise.all([clusterQueuesView(queues, nodes, METRIC_QUEUES), clusterSpaceViews(queues.redis), nodes.list()]).then(
        ([q, s, n]) => ({ queues: q, spaces: s, nodes: n }),
        () => ({ queues: [], spaces: [], nodes: [] }),
      );
    }
    return reading;
  };
}
