import { createServer, type AddressInfo } from 'node:net';
import { connect, type Client, type ConnectOptions } from '../../client-sdk/index.js';
import { startBroker, type Broker, type BrokerOptions } from '../../server/index.js';

/**
 * A real broker on a free port plus the clients a test opens; cleanup() closes them all.
 * Use one per test file: `const t = testBroker(); afterEach(() => t.cleanup());`.
 */
export interface TestBroker {
  start(options?: BrokerOptions): Promise<Broker>;
  client(options?: ConnectOptions): Promise<Client>;
  readonly broker: Broker;
  cleanup(): Promise<void>;
}

export function testBroker(): TestBroker {
  let broker: Broker | undefined;
  // Clients opened concurrently before start() must share one broker, not start one each.
  let starting: Promise<Broker> | undefined;
  const clients: Client[] = [];
  const t: TestBroker = {
    async start(options = {}) {
      starting = startBroker({ port: 0, logLevel: 'silent', ...clusterMode(), ...options });
      broker = await starting;
      return broker;
    },
    async client(options = {}) {
      if (!broker) await (starting ?? t.start());
      const client = await connect(broker!.url, { reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, ...options });
      clients.push(client);
      return client;
    },
    get broker() {
      if (!broker) throw new Error('call start() first');
      return broker;
    },
    async cleanup() {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await broker?.close();
      broker = undefined;
      starting = undefined;
    },
  };
  return t;
}

/**
 * LINDEN_TEST_REDIS=redis://... runs every testBroker() as a node of a cluster on that Redis
 * (a redis-server of the run's own, never a shared one): one node with `redis` must behave
 * exactly as a broker without (DESIGN.md §5 "Cluster").
 */
function clusterMode(): { redis?: string } {
  const redis = process.env.LINDEN_TEST_REDIS;
  return redis ? { redis } : {};
}

/**
 * Resolves with the next `n` values of an async iterable (fewer if it ends). Reads with next()
 * rather than `for await ... break`, which would end a subscription by calling return().
 */
export async function take<T>(iterable: AsyncIterable<T>, n: number): Promise<T[]> {
  const it = iterable[Symbol.asyncIterator]();
  const out: T[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

/**
 * Resolves when `predicate` holds, polling on each macrotask turn (after `step`, when given: what
 * makes the condition observable, such as a probe publish); rejects after `ms`.
 */
export async function until(predicate: () => boolean, ms = 5_000, step?: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + ms;
  while ((await step?.(), !predicate())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A port nothing listens on: taken from the OS, then released. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
