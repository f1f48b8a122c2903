import { RedisServer } from '../test/helpers/redis-server.js';
import { pubsubThroughput, type ThroughputResult } from './pubsub-throughput.js';
import { spawnBroker, type BrokerProcess } from './spawn-broker.js';

export interface ClusterThroughput {
  /** A broker on its own, no Redis. */
  alone: ThroughputResult;
  /** One node with `redis`: what cluster mode costs when no other node listens. */
  oneNode: ThroughputResult;
  /** Two nodes: publisher and subscriber on the same node, then on different ones. */
  twoNodesLocal: ThroughputResult;
  twoNodesCross: ThroughputResult;
  /** Three nodes: the publisher on one, a subscriber on each of the two others. */
  threeNodesCross: ThroughputResult;
}

/**
 * `npm run bench -- --cluster`: transient pub/sub throughput (1 publisher, 128 B, ack none) on
 * one broker, then on one, two and three broker processes sharing a redis-server of its own.
 * All on this machine: the cross-node figures include Redis's share of the same cores.
 */
export async function clusterThroughput(messages: number): Promise<ClusterThroughput> {
  const run = (url: string, subscribers: number, at?: (i: number) => string) => pubsubThroughput(url, subscribers, messages, 20_000, at);
  const alone = await withBrokers(1, undefined, async ([a]) => {
    await pubsubThroughput(a!.url, 1, Math.min(messages, 50_000)); // warm-up: JIT on the client side
    return run(a!.url, 1);
  });
  const redis = await RedisServer.start({ appendfsync: 'no' });
  try {
    const oneNode = await withBrokers(1, redis.url, ([a]) => run(a!.url, 1));
    const [twoNodesLocal, twoNodesCross] = await withBrokers(2, redis.url, async ([a, b]) => [
      await run(a!.url, 1),
      await run(a!.url, 1, () => b!.url),
    ]);
    const threeNodesCross = await withBrokers(3, redis.url, ([a, b, c]) => run(a!.url, 2, (i) => (i === 0 ? b! : c!).url));
    return { alone, oneNode, twoNodesLocal, twoNodesCross, threeNodesCross };
  } finally {
    await redis.destroy();
  }
}

async function withBrokers<T>(n: number, redis: string | undefined, body: (brokers: BrokerProcess[]) => Promise<T>): Promise<T> {
  const brokers = await Promise.all(Array.from({ length: n }, () => spawnBroker(redis ? { redis } : {})));
  try {
    return await body(brokers);
  } finally {
    await Promise.all(brokers.map((b) => b.stop()));
  }
}
