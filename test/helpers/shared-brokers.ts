import { get } from 'node:http';
import { connect, type Client, type ConnectOptions } from '../../client-sdk/index.js';
import type { Broker, BrokerOptions } from '../../server/index.js';
import { testBroker, until, type TestBroker } from './setup.js';

/**
 * Brokers a test file shares between its tests, one per set of options, started on first use and
 * closed after the file: a start costs ~100 ms of CPU (schema compiles), which files of many short
 * tests paid once per test. Only for tests that do not depend on a fresh broker beyond having no
 * other client connected: after each test, once the test's clients are closed, `settled()` waits
 * until every shared broker has let them go.
 *
 * Options are told apart by their JSON, so options holding functions or class instances
 * (interceptors) cannot be shared: start() refuses them, and such a test starts a broker of its own.
 */
export interface SharedBrokers {
  start(options?: BrokerOptions): Promise<Broker>;
  /** Resolves once each broker holds no connection but `keep` (the file's long-lived clients). */
  settled(keep?: number): Promise<void>;
}

export function sharedBrokers(): SharedBrokers {
  const brokers = new Map<string, { own: TestBroker; started: Promise<Broker> }>();
  afterAll(async () => {
    await Promise.all([...brokers.values()].map(({ own }) => own.cleanup()));
  });
  return {
    start(options = {}) {
      const key = JSON.stringify(options, plainOnly);
      let entry = brokers.get(key);
      if (!entry) {
        const own = testBroker();
        entry = { own, started: own.start(options) };
        brokers.set(key, entry);
      }
      return entry.started;
    },
    async settled(keep = 0) {
      await Promise.all([...brokers.values()].map(async ({ started }) => {
        const url = `${(await started).url.replace(/^ws/, 'http')}/api/connections?scope=node`;
        let connections = -1;
        await until(() => connections === keep, 5_000, async () => {
          connections = (JSON.parse(await httpGet(url)) as unknown[]).length;
        });
      }));
    },
  };
}

/** A JSON replacer that refuses what JSON would drop or flatten: such options are not told apart. */
function plainOnly(key: string, value: unknown): unknown {
  const proto = typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) as unknown : null;
  if (typeof value === 'function' || (proto !== null && proto !== Object.prototype && proto !== Array.prototype)) {
    throw new Error(`broker option ${key} is not plain data: start a broker of the test's own`);
  }
  return value;
}

/**
 * A TestBroker (setup.ts) over shared brokers, for files whose tests only need a broker with no
 * other client connected and names (topics, spaces, queues) of their own: start(options) gives the
 * file's broker for those options, client() connects to the last one started (the plain one when
 * none), and cleanup() closes the test's clients and waits until every broker has let them go.
 */
export function sharedTestBroker(): TestBroker {
  const brokers = sharedBrokers();
  let current: Broker | undefined;
  const clients: Client[] = [];
  const t: TestBroker = {
    async start(options = {}) {
      current = await brokers.start(options);
      return current;
    },
    async client(options: ConnectOptions = {}) {
      const broker = current ?? await t.start();
      const client = await connect(broker.url, { reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, ...options });
      clients.push(client);
      return client;
    },
    get broker() {
      if (!current) throw new Error('call start() first');
      return current;
    },
    async cleanup() {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      current = undefined;
      await brokers.settled();
    },
  };
  return t;
}

/** The body of a GET, on a connection of its own (none kept alive to hold the broker open). */
function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve(body));
      res.on('error', reject);
    }).on('error', reject);
  });
}
