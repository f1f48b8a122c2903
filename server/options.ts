import { Ajv, type ValidateFunction } from 'ajv';
import { LindenError } from '../protocol/errors.js';
import { fragmentation } from '../protocol/fragmentation.js';
import type { Interceptor } from '../protocol/interceptor.js';
import { authProblems } from './auth/auth-options.js';
import type { AuthOptions } from './auth/auth-schema.js';
import { LOG_LEVELS, OPTION_NAMES, optionsSchema, specOf } from './option-specs.js';
import { normalizeOrigin } from './origin.js';

export { LOG_LEVELS };

/**
 * Options of startBroker(). Each one also has its entry in OPTION_SPECS (server/option-specs.ts):
 * schema, default and the line README's table and `linden serve --help` show.
 */
export interface BrokerOptions {
  /** TCP port; 0 picks a free one. Default 7070. */
  port?: number;
  /** Interface to listen on. Default '127.0.0.1'. */
  host?: string;
  /** Largest WebSocket frame accepted; a larger one closes the connection with 1009. Default 1 MiB. */
  maxFrameBytes?: number;
  /**
   * Largest payload of one message or tuple. Default 64 MiB. Towards a client that does not
   * announce fragmentation a message must fit one frame: such a client is told maxFrameBytes
   * less 8 KiB in `welcome`.
   */
  maxMessageBytes?: number;
  /** Subscriptions per connection. Default 10,000. */
  maxSubscriptions?: number;
  /**
   * Outbound bytes buffered per connection before transient deliveries to it are dropped and
   * durable ones wait in their queue; tuple-space events past 4 × this close the connection
   * with 4007 (protocol.md §11). Default 8 MiB.
   */
  maxPendingBytes?: number;
  /**
   * How long a connection's outbound bytes may stay over maxPendingBytes while its socket takes
   * none of them; then it is closed with 4007 SLOW_CONSUMER (protocol.md §11). Checked every
   * quarter of it. Default 10,000 ms.
   */
  writeDeadlineMs?: number;
  /** Interval of WebSocket pings; a peer that misses one is terminated. Default 30,000 ms. */
  heartbeatMs?: number;
  /** Time allowed between the WebSocket upgrade and `hello`. Default 10,000 ms. */
  handshakeTimeoutMs?: number;
  /** How long a delivery/processing receipt waits when the publish names no timeout. Default 30,000 ms. */
  receiptTimeoutMs?: number;
  /** Upper bound on any timeout a client asks for. Default 600,000 ms. */
  maxTimeoutMs?: number;
  /** Tuples one space may hold. Default 1,000,000. */
  maxTuplesPerSpace?: number;
  /** Blocked in/rd requests plus notify subscriptions per connection. Default 10,000. */
  maxWaitersPerConnection?: number;
  /**
   * Open connections in all; one more is closed at once with 4009 and a reason naming the limit
   * (protocol.md §1.7). Default 10,000.
   */
  maxConnections?: number;
  /**
   * Open connections from one remote address (behind a proxy, all its clients: raise it to
   * maxConnections there); one more is closed with 4009 like maxConnections. Default 1,000.
   */
  maxConnectionsPerAddress?: number;
  /** Subscriptions of all connections together (TOO_MANY_SUBSCRIPTIONS). Default 1,000,000. */
  maxSubscriptionsTotal?: number;
  /** Blocked in/rd requests plus notify subscriptions of all connections together (TOO_MANY_WAITERS). Default 250,000. */
  maxWaitersTotal?: number;
  /**
   * Bytes of the tuples all spaces hold together, reserved ones included, each counted as its
   * MessagePack encoding (SPACE_FULL). Default 128 MiB.
   */
  maxSpaceBytesTotal?: number;
  /** Topics holding a retained message; a publish with `retain` on a new topic beyond it fails with RETAINED_FULL. Default 10,000. */
  maxRetainedTopics?: number;
  /** Bytes of all retained messages together, each its payload plus its topic (RETAINED_FULL). Default 64 MiB. */
  maxRetainedBytes?: number;
  /** Scheduled publishes and outs (`delay`, `deliverAt`) the broker holds at once, both modes (SCHEDULE_FULL). Default 100,000. */
  maxScheduled?: number;
  /** Bytes of the payloads and tuples of scheduled publishes and outs together (SCHEDULE_FULL). Default 64 MiB. */
  maxScheduledBytes?: number;
  /** Longest `delay` (or `deliverAt` from now) of a scheduled publish or out; may pass 2^31 ms. Default 30 days. */
  maxScheduleDelayMs?: number;
  /** Longest tuple lease; a longer ttl is shortened and the reply says so. Default 7 days. */
  maxLeaseMs?: number;
  /** Fields per tuple or template. Default 64. */
  maxArity?: number;
  /** How long a publisher's message id (`mid`) of a persistent message is remembered to drop repeats. Default 120,000 ms. */
  dedupeWindowMs?: number;
  /**
   * Longest wait of `broker.drain()` (`linden serve`: SIGTERM, SIGINT) for in-flight receipts and
   * durable deliveries before it answers the rest as timed out and closes; 0 closes at once.
   * Default 20,000 ms.
   */
  drainTimeoutMs?: number;
  /** pino log level. Default 'info'. */
  logLevel?: (typeof LOG_LEVELS)[number];
  /**
   * Folder of the embedded LMDB store: persistent messages, durable subscriptions and
   * persistent spaces survive restarts and crashes. Without it everything is kept in memory.
   */
  dataDir?: string;
  /**
   * Most bytes the store may hold (LMDB pages in use). At it, or with the disk full, persistent
   * publishes to durable subscriptions, new durable subscriptions and outs to persistent spaces
   * get STORE_FULL; transient traffic goes on. Default: what the store holds at start plus 90%
   * of the disk then free in `dataDir` (unlimited without a data folder).
   */
  maxStoreBytes?: number;
  /**
   * Cluster mode: `redis://host:port` (or `rediss://` for TLS) of the Redis 7 that several
   * brokers share (README "Running a cluster"). Publishes reach subscribers on every node; the
   * local hot path stays in process. Durable queues and persistent messages live in Redis
   * Streams, acknowledged once Redis has them. Default: none, a broker on its own.
   */
  redis?: string;
  /**
   * Interceptors, from the handlers to the socket (protocol.md §4). Default
   * `[fragmentation()]`; a list given here replaces it, so keep `fragmentation()` in it to
   * accept and send large messages in fragments.
   */
  interceptors?: Interceptor[];
  /**
   * Serve `wss://` and HTTPS instead of `ws://` and HTTP: paths of the PEM files of the server
   * certificate (with its chain) and its private key. They are read at start and again by
   * `broker.reloadTls()` (`linden serve`: on SIGHUP).
   */
  tls?: TlsFiles;
  /**
   * Origins (`https://app.example.com`: scheme, host and port as browsers send them) whose web
   * pages may open a WebSocket to the broker; `'*'` allows any. A request carrying another
   * `Origin` is refused with HTTP 403; requests without one (non-browser clients) always pass.
   * Default: loopback origins only (http(s)://localhost, 127.0.0.0/8, [::1], any port). `[]`: no
   * web page at all.
   */
  allowedOrigins?: string[];
  /**
   * Users, their credentials and permissions (README "Security", protocol.md §4.7). Default:
   * none, and every client may do everything, which is why the default host is loopback.
   */
  auth?: AuthOptions;
  /** With `auth`: /metrics, like /api, needs an admin's `Authorization: Bearer` token. Default false: monitoring scrapes it openly. */
  metricsAuth?: boolean;
}

/** Paths of the PEM files `tls` names. */
export interface TlsFiles {
  /** The server certificate, followed by any intermediate certificates. */
  cert: string;
  /** Its private key (unencrypted). */
  key: string;
}

/** The options startBroker() has no default for (its entry in OPTION_SPECS has none); every other one must have one. */
export type WithoutDefault = 'dataDir' | 'interceptors' | 'tls' | 'allowedOrigins' | 'auth' | 'maxStoreBytes' | 'redis';

export type ResolvedOptions = Required<Omit<BrokerOptions, WithoutDefault>>
  & Pick<BrokerOptions, 'dataDir' | 'tls' | 'auth' | 'redis'>
  & { interceptors: readonly Interceptor[]; allowedOrigins: readonly string[] | undefined; maxStoreBytes: number | undefined };

/** startBroker()'s defaults, from OPTION_SPECS. */
export const DEFAULTS = {
  ...Object.fromEntries(OPTION_NAMES.flatMap((name) => (specOf(name).default === undefined ? [] : [[name, specOf(name).default]]))),
  interceptors: [],
  allowedOrigins: undefined,
} as unknown as ResolvedOptions;

const validate = new Ajv({ allErrors: true }).compile(optionsSchema('broker'));

/** `/auth/users/2/permissions/publish/allow/0` as a reader of the config writes it: `auth.users[2].permissions.publish.allow[0]`. */
function optionPath(pointer: string): string {
  return pointer.split('/').slice(1).map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** A bad or unknown option: `path` as a reader of the config writes it, from the option's name on ('' for an unknown option). */
export interface OptionProblem {
  /** The top-level option the problem is in (the unknown one itself for an unknown option). */
  option: string;
  path: string;
  message: string;
}

/** `auth.users[0]: needs a password` as it is printed. */
export function problemText(p: OptionProblem): string {
  return p.path ? `${p.path}: ${p.message}` : p.message;
}

/**
 * Everything wrong with `options`, by `check` (startBroker()'s schema unless told; `linden serve`
 * passes the config schema) and then by what a schema cannot say (auth, origins).
 */
export function optionProblems(options: object, check: ValidateFunction = validate): OptionProblem[] {
  if (!check(options)) {
    return (check.errors ?? []).map((e) => {
      const path = optionPath(e.instancePath);
      if (e.keyword === 'additionalProperties') {
        const key = (e.params as { additionalProperty: string }).additionalProperty;
        return { option: path ? topOption(path) : key, path, message: `unknown option "${key}"` };
      }
      const message = e.keyword === 'enum' ? `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}` : e.message ?? 'is invalid';
      return { option: topOption(path), path, message };
    });
  }
  const o = options as BrokerOptions;
  const texts = [...(o.auth ? authProblems(o.auth) : []), ...originProblems(o.allowedOrigins ?? [])];
  return texts.map((text) => {
    const at = text.indexOf(': ');
    const path = text.slice(0, at);
    return { option: topOption(path), path, message: text.slice(at + 2) };
  });
}

const topOption = (path: string): string => /^[^.[]*/.exec(path)![0];

/** Fills in defaults; throws INVALID_OPTIONS naming every bad or unknown option. */
export function resolveOptions(options: BrokerOptions = {}): ResolvedOptions {
  const problems = optionProblems(options).map(problemText);
  if (problems.length > 0) throw new LindenError('INVALID_OPTIONS', `invalid broker options: ${problems.join('; ')}`, { problems });
  return {
    ...DEFAULTS,
    ...options,
    interceptors: options.interceptors ?? [fragmentation()],
    // As the `Origin` header spells origins, so the check is an exact comparison.
    allowedOrigins: options.allowedOrigins?.map((entry) => normalizeOrigin(entry)!),
  };
}

function originProblems(list: string[]): string[] {
  return list.flatMap((entry, i) => normalizeOrigin(entry) === undefined
    ? [`allowedOrigins[${i}]: must be "*" or an origin such as https://app.example.com (scheme, host, optional port; no path), not "${entry.slice(0, 100)}"`]
    : []);
}
