import { Ajv } from 'ajv';
import { LindenError } from '../protocol/errors.js';
import { fragmentation } from '../protocol/fragmentation.js';
import type { Interceptor } from '../protocol/interceptor.js';
import { MAX_ARITY, MAX_DURATION_MS } from '../protocol/limits.js';
import { AUTH_SCHEMA, checkAuth, type AuthOptions } from './auth/auth-options.js';
import { normalizeOrigin } from './origin.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Options of startBroker(); every one is documented with its default in README.md. */
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
  /** Longest tuple lease; a longer ttl is shortened and the reply says so. Default 7 days. */
  maxLeaseMs?: number;
  /** Fields per tuple or template. Default 64. */
  maxArity?: number;
  /** How long a publisher's message id (`mid`) of a persistent message is remembered to drop repeats. Default 120,000 ms. */
  dedupeWindowMs?: number;
  /** pino log level. Default 'info'. */
  logLevel?: (typeof LOG_LEVELS)[number];
  /**
   * Folder of the embedded LMDB store: persistent messages, durable subscriptions and
   * persistent spaces survive restarts and crashes. Without it everything is kept in memory.
   */
  dataDir?: string;
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

export type ResolvedOptions = Required<Omit<BrokerOptions, 'dataDir' | 'interceptors' | 'tls' | 'allowedOrigins' | 'auth'>>
  & Pick<BrokerOptions, 'dataDir' | 'tls' | 'auth'>
  & { interceptors: readonly Interceptor[]; allowedOrigins: readonly string[] | undefined };

export const DEFAULTS: ResolvedOptions = {
  port: 7070,
  host: '127.0.0.1',
  maxFrameBytes: 1024 * 1024,
  maxMessageBytes: 64 * 1024 * 1024,
  maxSubscriptions: 10_000,
  maxPendingBytes: 8 * 1024 * 1024,
  writeDeadlineMs: 10_000,
  heartbeatMs: 30_000,
  handshakeTimeoutMs: 10_000,
  receiptTimeoutMs: 30_000,
  maxTimeoutMs: 600_000,
  maxTuplesPerSpace: 1_000_000,
  maxWaitersPerConnection: 10_000,
  maxLeaseMs: 7 * 24 * 3600 * 1000,
  maxArity: 64,
  dedupeWindowMs: 120_000,
  logLevel: 'info',
  interceptors: [],
  allowedOrigins: undefined,
  metricsAuth: false,
};

const positive = { type: 'integer', minimum: 1 };
/** Every option in ms reaches a timer, and a timer of 2^31 ms or more fires after 1 ms. */
const duration = { type: 'integer', minimum: 1, maximum: MAX_DURATION_MS };
const validate = new Ajv({ allErrors: true }).compile({
  type: 'object',
  additionalProperties: false,
  properties: {
    port: { type: 'integer', minimum: 0, maximum: 65535 },
    host: { type: 'string', minLength: 1 },
    // A frame must hold 8 KiB of fields around a payload (protocol.md §3.4) and still carry one.
    maxFrameBytes: { type: 'integer', minimum: 16_384 },
    maxMessageBytes: positive,
    maxSubscriptions: positive,
    maxPendingBytes: positive,
    writeDeadlineMs: duration,
    heartbeatMs: duration,
    handshakeTimeoutMs: duration,
    receiptTimeoutMs: duration,
    maxTimeoutMs: duration,
    maxTuplesPerSpace: positive,
    maxWaitersPerConnection: positive,
    maxLeaseMs: duration,
    maxArity: { type: 'integer', minimum: 1, maximum: MAX_ARITY },
    logLevel: { enum: [...LOG_LEVELS] },
    dataDir: { type: 'string', minLength: 1 },
    dedupeWindowMs: duration,
    interceptors: {
      type: 'array',
      items: { type: 'object', properties: { name: { type: 'string', minLength: 1 } }, required: ['name'] },
    },
    tls: {
      type: 'object',
      additionalProperties: false,
      properties: { cert: { type: 'string', minLength: 1 }, key: { type: 'string', minLength: 1 } },
      required: ['cert', 'key'],
    },
    // Each entry is checked to be an origin below; ajv only bounds the list.
    allowedOrigins: { type: 'array', maxItems: 1000, items: { type: 'string', minLength: 1, maxLength: 2048 } },
    auth: AUTH_SCHEMA,
    metricsAuth: { type: 'boolean' },
  },
});

/** `/auth/users/2/permissions/publish/allow/0` as a reader of the config writes it: `auth.users[2].permissions.publish.allow[0]`. */
function optionPath(pointer: string): string {
  return pointer.split('/').slice(1).map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** Fills in defaults; throws INVALID_OPTIONS naming every bad or unknown option. */
export function resolveOptions(options: BrokerOptions = {}): ResolvedOptions {
  if (!validate(options)) {
    const problems = (validate.errors ?? []).map((e) =>
      e.keyword === 'additionalProperties'
        ? `${e.instancePath ? `${optionPath(e.instancePath)}: ` : ''}unknown option "${(e.params as { additionalProperty: string }).additionalProperty}"`
        : `${optionPath(e.instancePath)}: ${e.message}`,
    );
    throw new LindenError('INVALID_OPTIONS', `invalid broker options: ${problems.join('; ')}`, { problems });
  }
  if (options.auth) checkAuth(options.auth);
  return { ...DEFAULTS, ...options, interceptors: options.interceptors ?? [fragmentation()], allowedOrigins: allowedOrigins(options.allowedOrigins) };
}

/** The list as the `Origin` header spells origins, so the check is an exact comparison. */
function allowedOrigins(list: string[] | undefined): string[] | undefined {
  if (list === undefined) return undefined;
  const problems: string[] = [];
  const origins = list.map((entry, i) => {
    const origin = normalizeOrigin(entry);
    if (origin === undefined) problems.push(`allowedOrigins[${i}]: must be "*" or an origin such as https://app.example.com (scheme, host, optional port; no path), not "${entry.slice(0, 100)}"`);
    return origin ?? '';
  });
  if (problems.length > 0) throw new LindenError('INVALID_OPTIONS', `invalid broker options: ${problems.join('; ')}`, { problems });
  return origins;
}
