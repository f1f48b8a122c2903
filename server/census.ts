import type { BrokerContext } from './broker-context.js';
import type { Connection } from './connection.js';

/** What a broker holds at one moment, counted by Census. */
export interface CensusCounts {
  /** Open connections. */
  connections: number;
  /** Connection objects made and not yet collected: after full collections, anything above `connections` is a gone connection something still holds. */
  connectionObjects: number;
  /** Transient subscriptions in the router; group members count one each. */
  subscriptions: number;
  /** Nodes of the subscription topic trie, root excluded. */
  topicNodes: number;
  groups: number;
  cachedRoutes: number;
  queues: number;
  consumers: number;
  /** Messages held by the queues: ready, in flight and delayed. */
  queueMessages: number;
  inFlight: number;
  /** Nodes of the queues' topic trie, root excluded. */
  queueTopicNodes: number;
  /** Distinct sets of queues that published topics reached. */
  queueRoutes: number;
  dedupe: number;
  /** Entries of the persistent messages' ttl heap. */
  expiries: number;
  unstored: number;
  spaces: number;
  /** Live tuples, reserved ones included. */
  tuples: number;
  waiters: number;
  notifiers: number;
  /** Entries of the tuple lease heap. */
  leases: number;
  outWatches: number;
}

/**
 * Counts what a broker holds, for the memory tests (test/churn-memory.test.ts): a seam
 * (BrokerSeams.census), not an option and not public API. Besides the cores' own counts it
 * follows every Connection object to its collection, so a test can tell that nothing holds on
 * to a connection that has gone.
 */
export class Census {
  private ctx: BrokerContext | undefined;
  private made = 0;
  private collected = 0;
  private readonly registry = new FinalizationRegistry<undefined>(() => {
    this.collected++;
  });

  attach(ctx: BrokerContext): void {
    this.ctx = ctx;
  }

  connectionMade(conn: Connection): void {
    this.made++;
    this.registry.register(conn, undefined);
  }

  count(): CensusCounts {
    const ctx = this.ctx;
    if (!ctx) throw new Error('census: the broker has not started');
    let consumers = 0;
    let queueMessages = 0;
    let inFlight = 0;
    for (const q of ctx.durable.queues.values()) {
      consumers += q.consumers.length;
      queueMessages += q.count;
      inFlight += q.inFlightCount;
    }
    let tuples = 0;
    let waiters = 0;
    let notifiers = 0;
    for (const s of ctx.spaces.listSpaces()) {
      tuples += s.liveCount;
      waiters += s.waiterCount;
      notifiers += s.notifierCount;
    }
    return {
      connections: ctx.connections.size,
      connectionObjects: this.made - this.collected,
      subscriptions: ctx.pubsub.router.subscriptionCount,
      ...ctx.pubsub.router.census(),
      queues: ctx.durable.queues.size,
      consumers,
      queueMessages,
      inFlight,
      ...ctx.durable.census(),
      ...ctx.spaces.census(),
      tuples,
      waiters,
      notifiers,
    };
  }
}
