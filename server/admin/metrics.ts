import { collectDefaultMetrics, Counter, Gauge, Registry, type Histogram } from 'prom-client';
import { LINDEN_VERSION, PROTOCOL_VERSION } from '../../protocol/version.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { Connection } from '../connection.js';
import type { ConnectionCaps } from '../connection-caps.js';
import type { DurableCore } from '../pubsub/durable/durable-core.js';
import type { DurableQueue } from '../pubsub/durable/durable-queue.js';
import type { PubSubCore } from '../pubsub/pubsub-core.js';
import type { Scheduler } from '../scheduled/scheduler.js';
import type { SlowConsumers } from '../slow-consumers.js';
import type { Wills } from '../wills.js';
import type { SpaceCore } from '../space/space-core.js';
import type { ClusterQueues } from '../cluster/durable/cluster-queues.js';
import type { StreamInfo } from '../pubsub/streams/stream-info.js';
import type { NodeSummaries } from '../cluster/node-summary.js';
import { clusterReader } from './cluster-metrics.js';
import type { Space } from '../space/space.js';
import type { QueueView, SpaceView } from './views.js';

export interface MetricSources {
  readonly pubsub: PubSubCore;
  readonly durable: DurableCore;
  readonly spaces: SpaceCore;
  /** Scheduled publishes and outs this broker holds (protocol.md §9.10). */
  readonly scheduled?: Pick<Scheduler, 'count' | 'heldBytes' | 'stats'>;
  readonly connections: ReadonlySet<Connection>;
  /** Store commit latency, timed where the store is made (commit-timer.ts). */
  readonly commits: Histogram;
  /** Failed logins and refused requests (protocol.md §4.7). */
  readonly auth: Authenticator;
  /** Connections closed for reading too slowly (protocol.md §11). */
  readonly slow: Pick<SlowConsumers, 'closed'>;
  /** New connections refused over maxConnections or maxConnectionsPerAddress (protocol.md §1.7). */
  readonly caps: Pick<ConnectionCaps, 'refused'>;
  /** Last wills: those waiting out their delay, and what became of the others (protocol.md §4.8). */
  readonly wills: Pick<Wills, 'stats' | 'pendingCount'>;
  /** Cluster mode: the queue and space gauges read what Redis holds, and each node's connections are a gauge. */
  readonly cluster?: { readonly queues: ClusterQueues; readonly nodes: NodeSummaries };
}

/**
 * Prometheus metrics for one broker. The cores already keep their counters for the JSON views,
 * so every metric reads them at scrape time (prom-client's `collect`) instead of the hot paths
 * paying for a second set of counters. One Registry per broker, not prom-client's global one:
 * several brokers in one process (tests, embedding) would otherwise register the same names twice.
 */
export function createMetrics(src: MetricSources): Registry {
  const registry = new Registry();
  registry.registerMetric(src.commits);

  /** A counter whose value is a total someone else keeps; reset first so vanished labels go away. */
  const counter = (name: string, help: string, labelNames: string[], read: (set: (labels: Record<string, string>, v: number) => void) => void) =>
    new Counter({
      name, help, labelNames, registers: [registry],
      collect() {
        this.reset();
        read((labels, v) => this.inc(labels, v));
      },
    });
  const gauge = (name: string, help: string, labelNames: string[], read: (set: (labels: Record<string, string>, v: number) => void) => void | Promise<void>) =>
    new Gauge({
      name, help, labelNames, registers: [registry],
      async collect() {
        // Read first, then reset and set at once: two scrapes awaiting Redis do not mix their values.
        const values: [Record<string, string>, number][] = [];
        await read((labels, v) => values.push([labels, v]));
        this.reset();
        for (const [labels, v] of values) this.set(labels, v);
      },
    });
  // Cluster mode: the durable queues and the tuples are in Redis (the local store has none), read at scrape time.
  const redisReading = src.cluster && clusterReader(src.cluster.queues, src.cluster.nodes);
  /** A space gauge: the local spaces, or in cluster mode the spaces Redis holds. */
  const spaceGauge = (name: string, help: string, local: (s: Space) => number, fromRedis: (s: SpaceView) => number) =>
    gauge(name, help, ['space'], async (set) => {
      if (!redisReading) for (const s of src.spaces.listSpaces()) set({ space: s.name }, local(s));
      else for (const s of (await redisReading()).spaces) set({ space: s.name }, fromRedis(s));
    });
  /** A queue gauge: the local store's queues, or in cluster mode the queues Redis holds (`fromRedis`; none when it has no such figure). */
  const queueGauge = (name: string, help: string, local: (q: DurableQueue) => number, fromRedis?: (q: QueueView) => number) =>
    gauge(name, help, ['queue'], async (set) => {
      if (!redisReading) {
        for (const q of queues()) set({ queue: q.name }, local(q));
      } else if (fromRedis) {
        for (const q of (await redisReading()).queues) set({ queue: q.name }, fromRedis(q));
      }
    });

  const queues = () => src.durable.queues.values();
  const sumQueues = (key: keyof DurableQueue['stats']) => {
    let n = 0;
    for (const q of queues()) n += q.stats[key];
    return n;
  };

  // The usual `*_build_info` idiom: a constant 1 whose labels say what runs, for joins and alerts.
  new Gauge({
    name: 'linden_build_info', help: 'Linden version, Node.js version and protocol version of this broker; always 1',
    labelNames: ['version', 'node', 'protocol'], registers: [registry],
  }).set({ version: LINDEN_VERSION, node: process.version, protocol: String(PROTOCOL_VERSION) }, 1);
  gauge('linden_connections', 'Open client connections', [], (set) => set({}, src.connections.size));
  if (src.pubsub.cluster) {
    const stats = () => src.pubsub.cluster?.stats;
    gauge('linden_cluster_connected', 'Cluster mode: 1 while this node is subscribed to its channel on Redis, 0 while Redis is away', [], (set) => set({}, stats()?.connected ? 1 : 0));
    gauge('linden_cluster_nodes', 'Cluster mode: the other live nodes this node knows', [], (set) => set({}, stats()?.nodes ?? 0));
    gauge('linden_cluster_node_connections', 'Cluster mode: open connections of each live node, as its summary in Redis said (up to a second old)', ['node'], async (set) => {
      if (!redisReading) return;
      for (const n of (await redisReading()).nodes) set({ node: n.node }, n.connections);
    });
    counter('linden_cluster_messages_total', 'Cluster mode: messages sent to other nodes (one per node a publish reached) and received from them', ['direction'], (set) => {
      const now = stats();
      set({ direction: 'out' }, now?.sent ?? 0);
      set({ direction: 'in' }, now?.received ?? 0);
    });
  }
  const scheduled = src.scheduled;
  if (scheduled) {
    gauge('linden_scheduled', 'Scheduled publishes and outs this broker holds, not yet due (in cluster mode, those it took itself)', [], (set) => set({}, scheduled.count));
    gauge('linden_scheduled_bytes', 'Payload and tuple bytes of the scheduled publishes and outs this broker holds (maxScheduledBytes)', [], (set) => set({}, scheduled.heldBytes));
    counter('linden_scheduled_total', 'Scheduled publishes and outs, by what became of them: scheduled, delivered (routed when due) or cancelled', ['event'], (set) => {
      for (const [event, n] of Object.entries(scheduled.stats)) set({ event }, n);
    });
  }
  counter('linden_auth_failures_total', 'Logins refused (hello or the HTTP API) with AUTH_FAILED', [], (set) => set({}, src.auth.stats.failures));
  counter('linden_permission_denied_total', 'Requests refused with PERMISSION_DENIED, by action', ['action'], (set) => {
    for (const [action, n] of src.auth.stats.denied) set({ action }, n);
  });
  counter('linden_messages_in_total', 'Messages published, by mode', ['mode'], (set) => {
    const { published, persistent } = src.pubsub.stats;
    set({ mode: 'transient' }, published - persistent);
    set({ mode: 'persistent' }, persistent);
  });
  counter('linden_messages_out_total', 'Messages delivered to subscribers, by mode (persistent: every delivery from a queue)', ['mode'], (set) => {
    set({ mode: 'transient' }, src.pubsub.stats.delivered);
    set({ mode: 'persistent' }, sumQueues('delivered'));
  });
  counter('linden_messages_streamed_total', 'Large transient messages forwarded fragment by fragment as they arrived, never held whole', [], (set) => set({}, src.pubsub.stats.streamed));
  if (!src.pubsub.cluster) {
    // In cluster mode they are the cluster's, in Redis: `linden retained` shows them there.
    gauge('linden_retained_topics', 'Topics holding a retained message (limit maxRetainedTopics); a broker without redis only', [], (set) => set({}, src.pubsub.retained.count));
    gauge('linden_retained_bytes', 'Bytes of all retained messages, payloads plus topics (limit maxRetainedBytes); a broker without redis only', [], (set) => set({}, src.pubsub.retained.totalBytes));
  }
  counter('linden_messages_dropped_total', 'Transient deliveries dropped because the receiver was congested', [], (set) => set({}, src.pubsub.stats.dropped));
  counter('linden_slow_consumers_closed_total', 'Connections closed with 4007 SLOW_CONSUMER, by cause: stalled (output over maxPendingBytes, none taken for writeDeadlineMs) or events (tuple-space events past 4 x maxPendingBytes)', ['cause'], (set) => {
    for (const [cause, n] of Object.entries(src.slow.closed)) set({ cause }, n);
  });
  counter('linden_connections_refused_total', 'New connections closed at once with 4009, by the limit they met: maxConnections or maxConnectionsPerAddress', ['limit'], (set) => {
    for (const [limit, n] of Object.entries(src.caps.refused)) set({ limit }, n);
  });
  // Replayable streams (protocol.md §9.11): one broker's, read from its stream core at scrape time;
  // in cluster mode the cluster's, from Redis (the same on every node), read once per scrape.
  let streamsRead: { at: number; list: Promise<StreamInfo[]> } | undefined;
  const streamList = async (): Promise<StreamInfo[]> => {
    const cluster = src.cluster;
    if (!cluster) return src.durable.streams.list();
    const now = Date.now();
    if (!streamsRead || now - streamsRead.at > 250) streamsRead = { at: now, list: cluster.queues.streams.list().catch(() => []) };
    return streamsRead.list;
  };
  gauge('linden_stream_messages', 'Messages a replayable stream holds now, by stream (cluster mode: in Redis, for every node)', ['stream'], async (set) => {
    for (const s of await streamList()) set({ stream: s.name }, s.messages);
  });
  gauge('linden_stream_bytes', 'Payload bytes a replayable stream holds now, by stream (cluster mode: in Redis, for every node)', ['stream'], async (set) => {
    for (const s of await streamList()) set({ stream: s.name }, s.bytes);
  });
  gauge('linden_stream_reader_lag', 'Messages a named stream reader has still to read and ack, by stream and reader (cluster mode: in Redis, for every node)', ['stream', 'reader'], async (set) => {
    for (const s of await streamList()) for (const r of s.readers) set({ stream: s.name, reader: r.name }, r.lag);
  });
  gauge('linden_wills_pending', 'Last wills waiting out their delay after their connection was lost', [], (set) => set({}, src.wills.pendingCount));
  counter('linden_wills_total', 'Last wills by outcome: published (connection lost), cancelled (the client came back within the delay) or dropped (clean close, or closed by a stopping broker)', ['outcome'], (set) => {
    for (const [outcome, n] of Object.entries(src.wills.stats)) set({ outcome }, n);
  });
  gauge('linden_connections_stalled', 'Connections whose output is over maxPendingBytes with none of it taken since the last check', [], (set) => {
    let n = 0;
    for (const c of src.connections) if (c.stalledMs > 0) n++;
    set({}, n);
  });
  counter('linden_frames_in_total', 'Protocol messages received from clients still connected', [], (set) => {
    let n = 0;
    for (const c of src.connections) n += c.stats.messagesIn;
    set({}, n);
  });

  counter('linden_queue_deliveries_total', 'Deliveries from a durable queue, redeliveries included', ['queue'], (set) => {
    for (const q of queues()) set({ queue: q.name }, q.stats.delivered);
  });
  counter('linden_queue_acks_total', 'Messages acknowledged by a consumer', ['queue'], (set) => {
    for (const q of queues()) set({ queue: q.name }, q.stats.acked);
  });
  counter('linden_queue_redeliveries_total', 'Deliveries of a message delivered before', ['queue'], (set) => {
    for (const q of queues()) set({ queue: q.name }, q.stats.redelivered);
  });
  counter('linden_queue_dead_letters_total', 'Messages moved to the dead-letter queue', ['queue'], (set) => {
    for (const q of queues()) set({ queue: q.name }, q.stats.deadLettered);
  });
  counter('linden_queue_purged_total', 'Ready messages dropped by the admin operation purge', ['queue'], (set) => {
    for (const q of queues()) set({ queue: q.name }, q.stats.purged);
  });
  counter('linden_queue_retried_total', 'Messages moved back from the dead-letter queue by the admin operation retry', ['queue'], (set) => {
    for (const q of queues()) set({ queue: q.name }, q.stats.retried);
  });
  queueGauge('linden_queue_depth', 'Ready messages waiting for a consumer (cluster mode: in Redis, for every node)', (q) => q.readyCount, (q) => q.depth);
  queueGauge('linden_queue_in_flight', 'Delivered messages not yet acknowledged (cluster mode: on any node)', (q) => q.inFlightCount, (q) => q.inFlight);
  queueGauge('linden_queue_bytes', 'Payload bytes held by a queue (not in cluster mode)', (q) => q.bytes);
  queueGauge('linden_queue_consumers', 'Consumers attached to a queue (cluster mode: on every node)', (q) => q.consumers.length, (q) => q.consumers);

  spaceGauge('linden_space_tuples', 'Tuples held by a space (cluster mode: in Redis, reserved ones apart)', (s) => s.tupleCount, (s) => s.tuples);
  spaceGauge('linden_space_bytes', 'Bytes of the tuples held by a space (cluster mode: Redis\'s estimate of their memory)', (s) => s.bytes, (s) => s.bytes);
  spaceGauge('linden_space_waiting', 'Waiting in/rd requests on a space (cluster mode: of every node)', (s) => s.waiterCount, (s) => s.waiting);
  counter('linden_space_ops_total', 'Tuples written (out) and taken (in) per space', ['space', 'op'], (set) => {
    for (const s of src.spaces.listSpaces()) {
      set({ space: s.name, op: 'out' }, s.stats.outs);
      set({ space: s.name, op: 'in' }, s.stats.ins);
    }
  });
  return Registry.merge([processMetrics(), registry]);
}

let processRegistry: Registry | undefined;

/**
 * Process metrics, the event-loop delay histogram among them (a blocked loop stalls every
 * client). They describe the process, not a broker, and each collection starts a delay monitor
 * and a GC observer that are never stopped, so there is one set per process, shared by brokers.
 * No prefix: under their standard names (`process_cpu_seconds_total`,
 * `nodejs_heap_size_used_bytes`, ...) the usual Node.js dashboards and alerts work unchanged.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}
