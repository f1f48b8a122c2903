import { Redis } from 'ioredis';
import { RedisServer } from './redis-server.js';
import { until } from './setup.js';

/** The redis-server of one test file's cluster, and a connection to look at what the brokers keep there. */
export interface ClusterRedis {
  readonly server: RedisServer;
  readonly inspect: Redis;
  /** Resolves once Redis has `n` blocked requests of `arity` filed in `space`: what the brokers know, not just what a client sent. */
  waitersFiled(space: string, arity: number, n: number, ms?: number): Promise<void>;
}

/** Starts a redis-server before the file's tests and destroys it after them (call at the top of a test file). */
export function clusterRedis(): ClusterRedis {
  let server: RedisServer | undefined;
  let inspect: Redis | undefined;
  beforeAll(async () => {
    server = await RedisServer.start();
    inspect = new Redis(server.url);
    inspect.on('error', () => undefined); // a test may stop Redis under it
  });
  afterAll(async () => {
    inspect?.disconnect();
    await server?.destroy();
  });
  const shared: ClusterRedis = {
    get server() {
      if (!server) throw new Error('clusterRedis(): Redis is not started yet');
      return server;
    },
    get inspect() {
      if (!inspect) throw new Error('clusterRedis(): Redis is not started yet');
      return inspect;
    },
    waitersFiled: (space, arity, n, ms) => waitersFiled(shared.inspect, space, arity, n, ms),
  };
  return shared;
}

/** Resolves once Redis (read through `inspect`) has `n` blocked requests of `arity` filed in `space`. */
export async function waitersFiled(inspect: Redis, space: string, arity: number, n: number, ms = 10_000): Promise<void> {
  let filed = 0;
  await until(() => filed === n, ms, async () => {
    filed = await inspect.zcard(`{ls:${space}}:w:${arity}`);
  });
}
