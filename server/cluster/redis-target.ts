import { Redis, type RedisOptions } from 'ioredis';
import { LindenError } from '../../protocol/errors.js';

/**
 * The `redis` option: where Redis is, and how many replicas must confirm a persistent publish
 * before it is acknowledged (`?wait=N&waitTimeout=MS` in the URL, read by Linden and not passed
 * to ioredis). Without `wait`, an acknowledgement means what the Redis's own fsync policy means:
 * with `appendfsync always`, that the write is on its disk (README "Running a cluster").
 */
export interface RedisTarget {
  readonly url: string;
  readonly replicas: number;
  readonly waitTimeoutMs: number;
}

export function parseRedisTarget(option: string): RedisTarget {
  const url = new URL(option);
  const replicas = Number(url.searchParams.get('wait') ?? 0);
  const waitTimeoutMs = Number(url.searchParams.get('waitTimeout') ?? 1_000);
  if (!Number.isInteger(replicas) || replicas < 0 || !Number.isInteger(waitTimeoutMs) || waitTimeoutMs <= 0) {
    throw new LindenError('INVALID_OPTIONS', `redis URL: wait must be a whole number of replicas and waitTimeout a positive number of ms, not "${url.search.slice(0, 64)}"`);
  }
  url.searchParams.delete('wait');
  url.searchParams.delete('waitTimeout');
  return { url: url.toString(), replicas, waitTimeoutMs };
}

/** The Redis URL with its password replaced, for logs and --print-config: `redis://user:[redacted]@host:6379`. */
export function redactedRedisUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/)([^@/]*)@/, (_, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return `${scheme}${colon === -1 ? '[redacted]' : userinfo.slice(0, colon + 1) + '[redacted]'}@`;
  });
}

/**
 * A connection that fails at once while Redis is unreachable (no offline queue, no retries of a
 * command) and reconnects by itself: a request then gets STORE_UNAVAILABLE instead of waiting.
 * `command`: the node's one connection for commands, shared by the bus and the queues; the
 * commands of one turn of the event loop go out in one write (auto-pipelining).
 * `blocking`: for XREADGROUP BLOCK, which holds its connection and needs no command timeout;
 * `subscriber`: for SUBSCRIBE, which ioredis repeats itself after a reconnect.
 */
export function openRedis(target: RedisTarget, name: string, kind: 'command' | 'blocking' | 'subscriber' = 'command'): Redis {
  const options: RedisOptions = {
    connectionName: name,
    enableOfflineQueue: kind === 'subscriber',
    maxRetriesPerRequest: kind === 'subscriber' ? null : 0,
    retryStrategy: (attempt) => Math.min(50 * attempt, 1_000),
  };
  if (kind === 'command') {
    options.commandTimeout = 5_000;
    options.enableAutoPipelining = true;
    // Auto-pipelined, callBuffer's reply comes back as strings: the sweep's entries must stay Buffers.
    options.autoPipeliningIgnoredCommands = ['XAUTOCLAIM'];
  }
  const redis = new Redis(target.url, options);
  // Reconnection is ioredis's business; failures reach the callers of each command.
  redis.on('error', () => {});
  return redis;
}

/**
 * Disconnects and resolves once the connection has ended, so that nothing of it outlives the
 * broker's close(): ioredis ends the socket and keeps a timer (2 s) until the socket has closed,
 * which held a test process open after the broker had closed. A connection between attempts to
 * reconnect has no socket left to wait for; the wait is bounded all the same.
 */
export async function disconnectRedis(redis: Redis): Promise<void> {
  const open = redis.status === 'connect' || redis.status === 'ready' || redis.status === 'connecting';
  const ended = open ? new Promise<void>((resolve) => {
    const bound = setTimeout(resolve, 3_000).unref();
    redis.once('end', () => {
      clearTimeout(bound);
      resolve();
    });
  }) : undefined;
  redis.disconnect();
  await ended;
}

/** A failure of Redis itself (connection, timeout, OOM...) as the typed error clients get. */
export function unavailable(err: unknown): LindenError {
  if (err instanceof LindenError) return err;
  const reason = (err instanceof Error ? err.message : String(err)).slice(0, 200);
  return new LindenError('STORE_UNAVAILABLE', `Redis did not take the request: ${reason}; nothing was stored (the broker reconnects by itself)`, { redis: reason });
}

/** Resolves when the connection is ready, or after `ms` (the caller checks whether it stopped meanwhile). */
export function readyWithin(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    redis.once('ready', done);
  });
}
