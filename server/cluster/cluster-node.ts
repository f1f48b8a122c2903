import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ResolvedOptions } from '../options.js';
import type { PubSubCore } from '../pubsub/pubsub-core.js';
import type { SpaceCore } from '../space/space-core.js';
import { ClusterBus } from './cluster-bus.js';
import type { ClusterQueues } from './durable/cluster-queues.js';
import { ClusterSpaces } from './cluster-spaces.js';
import { ClusterRetained } from './cluster-retained.js';
import { RETAINED_CHANNEL } from './retained-scripts.js';
import { InterestSync } from './interest-sync.js';
import { NodeSummaries } from './node-summary.js';
import { INTEREST_CHANNEL, nodeChannel } from './keys.js';
import { disconnectRedis, redactedRedisUrl, type RedisTarget } from './redis-target.js';
import { RemoteInterest } from './remote-interest.js';
import { spaceChannel } from './space-scripts.js';

/** Longest wait between attempts to reach Redis again. */
const MAX_RETRY_MS = 1_000;
/** How long an admin `kick` forwarded to another node waits for its answer. */
const KICK_WAIT_MS = 2_000;

export interface ClusterNode {
  readonly id: string;
  /** Every node's summary in Redis (admin `cluster`); started once the broker listens. */
  readonly summaries: NodeSummaries;
  /** Admin `kick` of a connection on another node (ClusterBus.kick). */
  kick(node: string, connection: string): Promise<boolean>;
  /** Retained messages in Redis, for the admin API. */
  readonly retained: ClusterRetained;
  /** Set by the broker: closes a connection of this node for an operator on another. */
  kickHere: ((connection: string) => boolean) | undefined;
  /** Tells the other nodes that a client with a last will said hello here (ClusterBus.announceReturn). */
  announceReturn(key: string): void;
  /** Set by the broker: a client with a last will came back on another node. */
  returnedHere: ((key: string) => void) | undefined;
  stop(): Promise<void>;
}

/**
 * Joins this broker to the cluster of the brokers sharing one Redis: the interest sync and the
 * bus, which it hands to the pub/sub core, and the shared tuple spaces, which it hands to the
 * space core; on the node's command connection (`commands`, opened with openRedis and shared
 * with the cluster queues, which close it), a connection of its own for the sharded
 * subscriptions to this node's channels and the interest notifications, and one for tuple
 * traffic. It does not wait for Redis: a broker whose Redis is away serves its own clients and
 * joins the others once Redis answers. `queues`: the node's cluster queues, whose receipt events
 * travel on the bus.
 */
export function joinCluster(
  target: RedisTarget, commands: Redis, id: string, core: PubSubCore, spaces: SpaceCore, options: ResolvedOptions, log: Logger, queues: ClusterQueues,
): ClusterNode {
  const url = target.url;
  const retryStrategy = (attempt: number) => Math.min(attempt * 100, MAX_RETRY_MS);
  // No offline queue on `commands`: a cross-node delivery while Redis is away is dropped, not sent late.
  const subscriber = new Redis(url, { autoResubscribe: false, maxRetriesPerRequest: 0, retryStrategy, connectionName: `linden:${id}:sub` });
  const remote = new RemoteInterest();
  const interest = new InterestSync(commands, id, remote, log);
  const bus = new ClusterBus(id, commands, core, remote, interest, options, log);
  core.cluster = bus;
  const retained = new ClusterRetained(id, commands, core, bus, options, log);
  core.retainedLink = retained;
  bus.queueEvent = (queue, mid, e) => queues.receiptEvent(queue, mid, e);
  queues.forwardReceipt = (node, queue, mid, e) => bus.forwardQueueEvent(node, queue, mid, e);
  // Tuple traffic has a connection of its own, queueing while Redis is away (a take run late is still
  // atomic); a request caught by a lost connection fails after two attempts to reach Redis again.
  const spaceCommands = new Redis(url, { maxRetriesPerRequest: 2, retryStrategy, connectionName: `linden:${id}:spaces`, enableAutoPipelining: true });
  spaceCommands.on('error', () => undefined); // reported through the commands connection
  const events = { subscribe: (ch: string) => subscriber.ssubscribe(ch), unsubscribe: (ch: string) => subscriber.sunsubscribe(ch) };
  const shared = new ClusterSpaces(spaceCommands, id, spaces, events, options, log);
  spaces.cluster = shared;
  const tuplesChannel = spaceChannel(id);

  let reachable: boolean | undefined;
  const lost = (err?: Error) => {
    if (reachable === false) return;
    reachable = false;
    log.warn({ redis: redactedRedisUrl(url), err: err?.message }, 'cluster: Redis unreachable; local delivery goes on, cross-node delivery resumes when it answers');
  };
  commands.on('error', lost);
  subscriber.on('error', () => undefined); // Redis away: reported through the commands connection
  // Alone, it is Redis closing a subscriber that fell behind (client-output-buffer-limit pubsub).
  subscriber.on('close', () => {
    bus.listening = false;
    shared.deaf();
    retained.deaf();
    if (reachable) log.warn('cluster: the subscription connection to Redis closed; cross-node messages in between are lost');
  });
  commands.on('close', () => lost());
  commands.on('ready', () => {
    if (reachable === false) log.info({ redis: redactedRedisUrl(url) }, 'cluster: Redis reachable again');
    reachable = true;
    void interest.heartbeat();
  });
  subscriber.on('ready', () => {
    // Subscribed again after every reconnection; what the notifications missed meanwhile the heartbeat's reload covers.
    void subscriber.ssubscribe(nodeChannel(id), tuplesChannel).then(() => subscriber.ssubscribe(INTEREST_CHANNEL, RETAINED_CHANNEL)).then(
      () => {
        bus.listening = true;
        shared.listened();
        retained.listened();
        for (const channel of shared.notifiers.listened()) void subscriber.ssubscribe(channel).catch(() => undefined);
        return interest.resync();
      },
      () => undefined,
    );
  });
  subscriber.on('smessageBuffer', (channel: Buffer, message: Buffer) => {
    if (channel.length === INTEREST_CHANNEL.length && channel.toString() === INTEREST_CHANNEL) interest.notified(message.toString());
    else if (channel.length === tuplesChannel.length && channel.toString() === tuplesChannel) shared.received(message);
    else if (channel.length === RETAINED_CHANNEL.length && channel.toString() === RETAINED_CHANNEL) retained.received(message);
    else if (channel[0] === 0x7b /* { */) shared.notifiers.received(channel.toString(), message); // {ls:<space>}:events
    else bus.received(message);
  });
  interest.start();
  log.info({ node: id, redis: redactedRedisUrl(url) }, 'cluster: joining');

  const summaries = new NodeSummaries(commands, id);
  return {
    id,
    summaries,
    retained,
    kick: (node, connection) => bus.kick(node, connection, KICK_WAIT_MS),
    set kickHere(fn: ((connection: string) => boolean) | undefined) {
      bus.kickHere = fn;
    },
    get kickHere() {
      return bus.kickHere;
    },
    announceReturn: (key) => bus.announceReturn(key),
    set returnedHere(fn: ((key: string) => void) | undefined) {
      bus.returnedHere = fn;
    },
    get returnedHere() {
      return bus.returnedHere;
    },
    async stop() {
      await summaries.stop();
      core.cluster = undefined;
      core.retainedLink = undefined;
      queues.forwardReceipt = undefined;
      // At most 2 s: a Redis that does not answer must not hold the stop.
      await Promise.race([shared.idle(), new Promise<void>((resolve) => setTimeout(resolve, 2_000).unref())]);
      spaces.cluster = undefined;
      shared.notifiers.stop();
      shared.reservations.stop();
      shared.sweeps.stop();
      await interest.leave();
      await Promise.all([disconnectRedis(subscriber), disconnectRedis(spaceCommands)]);
    },
  };
}
