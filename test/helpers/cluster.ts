import { connect, type Client, type ConnectOptions } from '../../client-sdk/index.js';
import { startBroker, type Broker, type BrokerOptions } from '../../server/index.js';
import { until } from './setup.js';

/**
 * Brokers of one cluster in this process, on one Redis, plus the clients a test opens;
 * cleanup() closes them all. Use one per test file.
 */
export interface TestCluster {
  start(redisUrl: string, nodes: number, options?: BrokerOptions): Promise<Broker[]>;
  /** A client of node `i`. */
  client(i: number, options?: ConnectOptions): Promise<Client>;
  readonly brokers: Broker[];
  /** Closes the clients opened so far, leaving the brokers up: for files that share one cluster between tests. */
  closeClients(): Promise<void>;
  cleanup(): Promise<void>;
}

export function testCluster(): TestCluster {
  const brokers: Broker[] = [];
  const clients: Client[] = [];
  return {
    brokers,
    async start(redis, nodes, options = {}) {
      for (let i = 0; i < nodes; i++) brokers.push(await startBroker({ port: 0, logLevel: 'silent', redis, ...options }));
      return brokers;
    },
    async client(i, options) {
      return openClient(brokers[i]!.url, clients, options);
    },
    async closeClients() {
      await Promise.all(clients.splice(0).map((c) => c.close()));
    },
    async cleanup() {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await Promise.all(brokers.splice(0).map((b) => b.close()));
    },
  };
}

export async function openClient(url: string, clients: Client[], options: ConnectOptions = {}): Promise<Client> {
  const client = await connect(url, { reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, ...options });
  clients.push(client);
  return client;
}

let probes = 0;

/**
 * Resolves once `publisher`'s node sees every subscription the `subscribers` hold now. A node
 * announces its interest changes in order, so once a probe subscribed after them is seen, so are
 * they: the publisher publishes to the probe until its receipt counts every subscriber (plus
 * `catchAll`, the subscriptions to `>` and the like that take the probe too).
 */
export async function interestSeen(publisher: Client, subscribers: Client[], catchAll = 0, ms = 15_000): Promise<void> {
  const topic = `probe.${++probes}`;
  const subs = subscribers.map((c) => c.subscribe(topic));
  await Promise.all(subs.map((s) => s.ready));
  let seen = 0;
  await until(() => seen === subscribers.length + catchAll, ms, async () => {
    seen = (await publisher.publish(topic, 0, { ack: 'submission' })).receivers;
  });
  for (const s of subs) s.unsubscribe();
}
