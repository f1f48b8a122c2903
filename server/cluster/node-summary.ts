import type { Redis } from 'ioredis';
import type { ConnectionView, SubscriptionView } from '../admin/views.js';
import { NODES_KEY, NODE_TTL_MS, summaryKey } from './keys.js';

/** What a node tells the others about itself, for the admin `cluster` view (protocol.md §17). */
export interface NodeSummary {
  readonly node: string;
  /** Where its clients connect (`ws://host:port`), as it listens. */
  readonly url: string;
  /** Its open connections now. */
  readonly connections: number;
  /** Consumers on this node per durable queue that has any (admin `queues`/`queue` add them up). */
  readonly queueConsumers?: Readonly<Record<string, number>>;
  /** Its connections as the `connections` view shows them, at most LISTED_CONNECTIONS (admin `connections` lists every node's). */
  readonly connectionList?: readonly ConnectionView[];
  /** Its subscriptions as the `subscriptions` view shows them, bounded (admin/cluster-subscriptions.ts); admin `subscriptions` lists every node's. */
  readonly subscriptionList?: readonly SubscriptionView[];
  readonly startedAt: number;
}

/** A bound on the connections a summary lists, so that it stays small enough to write every second. */
export const LISTED_CONNECTIONS = 500;

/** How often a node writes its summary; it expires after NODE_TTL_MS, so a dead node's goes with it. */
const SUMMARY_EVERY_MS = 1_000;

/**
 * This node's summary in Redis (`{linden}:summary:<id>`, with the node registry's expiry) and the
 * reading of every live node's: the members of the registry whose summary has not expired.
 */
export class NodeSummaries {
  private timer: NodeJS.Timeout | undefined;
  private describe: (() => Omit<NodeSummary, 'node' | 'startedAt'>) | undefined;
  private readonly startedAt = Date.now();

  constructor(private readonly redis: Redis, private readonly node: string) {}

  /** Starts writing once the broker listens (it knows its URL then). */
  start(describe: () => Omit<NodeSummary, 'node' | 'startedAt'>): void {
    this.describe = describe;
    void this.write();
    this.timer = setInterval(() => void this.write(), SUMMARY_EVERY_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.describe = undefined;
    await this.redis.del(summaryKey(this.node)).catch(() => undefined);
  }

  /** Every live node's summary, this one's first; rejects while Redis is away. */
  async list(): Promise<(NodeSummary & { self: boolean })[]> {
    const nodes = await this.redis.zrange(NODES_KEY, 0, -1);
    const texts = nodes.length === 0 ? [] : await this.redis.mget(nodes.map(summaryKey));
    const summaries = texts.flatMap((t) => (t ? [JSON.parse(t) as NodeSummary] : []));
    return summaries
      .map((s) => ({ ...s, self: s.node === this.node }))
      .sort((a, b) => Number(b.self) - Number(a.self) || a.startedAt - b.startedAt);
  }

  private async write(): Promise<void> {
    if (!this.describe) return;
    const summary: NodeSummary = { node: this.node, ...this.describe(), startedAt: this.startedAt };
    await this.redis.set(summaryKey(this.node), JSON.stringify(summary), 'PX', NODE_TTL_MS).catch(() => undefined); // Redis away: written again next time
  }
}
