import { connect, type Client, type ConnectOptions } from '../../client-sdk/index.js';
import { startBroker, type Broker, type BrokerOptions } from '../../server/index.js';
import { RedisServer, type RedisOptions } from './redis-server.js';

/**
 * A Redis of the test's own and in-process brokers sharing it (cluster mode), each on port 0,
 * plus the clients a test opens on any of them; cleanup() closes everything.
 */
export interface TestCluster {
  readonly redis: RedisServer;
  readonly brokers: Broker[];
  start(redis?: RedisOptions): Promise<void>;
  /** One more broker on the cluster's Redis; `redis` adds to its URL (`?wait=1`). */
  node(options?: BrokerOptions, urlSuffix?: string): Promise<Broker>;
  client(broker: Broker, options?: ConnectOptions): Promise<Client>;
  cleanup(): Promise<void>;
}

export function testQueueCluster(): TestCluster {
  let redis: RedisServer | undefined;
  const brokers: Broker[] = [];
  const clients: Client[] = [];
  const t: TestCluster = {
    get redis() {
      if (!redis) throw new Error('call start() first');
      return redis;
    },
    brokers,
    async start(options = {}) {
      redis = await RedisServer.start(options);
    },
    async node(options = {}, urlSuffix = '') {
      const broker = await startBroker({ port: 0, logLevel: 'silent', redis: t.redis.url + urlSuffix, ...options });
      brokers.push(broker);
      return broker;
    },
    async client(broker, options = {}) {
      const client = await connect(broker.url, { reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, ...options });
      clients.push(client);
      return client;
    },
    async cleanup() {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await Promise.all(brokers.splice(0).map((b) => b.close()));
      await redis?.destroy();
      redis = undefined;
    },
  };
  return t;
}
