import { isAbsolute, resolve } from 'node:path';
import { MAX_ARITY, MAX_DURATION_MS, MAX_SCHEDULE_DELAY_MS } from '../protocol/limits.js';
import { AUTH_SCHEMA, type AuthOptions } from './auth/auth-schema.js';
import { redactedRedisUrl } from './cluster/redis-target.js';
import type { BrokerOptions, WithoutDefault } from './options.js';

/*
 * The one list of broker options (DESIGN.md §5). startBroker()'s schema and defaults, the
 * `linden serve` flags and LINDEN_* names, --print-config and README's option table are all
 * derived from it. A new option is one entry here (and its field, with a doc comment, in
 * BrokerOptions); the `satisfies` below fails to compile until both exist.
 */

export type JsonSchema = Record<string, unknown>;

export interface OptionSpec<T> {
  /** JSON Schema of the value startBroker() takes. */
  readonly schema: JsonSchema;
  /** startBroker()'s default; absent when it has none. */
  readonly default?: T;
  /** The default as README and --help state it, where the value alone does not say it (units, "none"). Markdown. */
  readonly defaultText?: string;
  /** One line for README's table and `linden serve --help`. Markdown. */
  readonly describe: string;

  // How `linden serve` spells the option. Unless given here: flag `--kebab-case-name`,
  // environment `LINDEN_SCREAMING_SNAKE_NAME` (cli/config/names.ts).
  /** The flag, without `--`, where it is not the kebab-case name. */
  readonly flag?: string;
  /** The flag's value placeholder in --help, where the type does not suggest a good one. */
  readonly valueName?: string;
  /** An object of strings given part by part: `tls` is `--tls-cert`/`--tls-key`, LINDEN_TLS_CERT/LINDEN_TLS_KEY. */
  readonly parts?: readonly string[];
  /** A flag without a value that clears the option whatever else gives it (`--memory`). */
  readonly clearFlag?: { readonly name: string; readonly describe: string };
  /** What `linden serve` uses when no source gives a value, where it differs from startBroker(). */
  readonly serveDefault?: unknown;
  /** The value's schema in a config file, LINDEN_* or a flag, where it differs from `schema` (code cannot be written in JSON). */
  readonly configSchema?: JsonSchema;
  /** The value with its relative paths made absolute against `base` (the config file's folder, or the working directory). */
  readonly paths?: (value: never, base: string) => unknown;
  /** The value with its secrets hidden, for --print-config. */
  readonly redact?: (value: never) => unknown;
}

type OptionSpecs = {
  readonly [K in keyof BrokerOptions]-?: OptionSpec<NonNullable<BrokerOptions[K]>>
    & (K extends WithoutDefault ? unknown : { readonly default: NonNullable<BrokerOptions[K]> });
};

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const REDACTED = '[redacted]';

const positive = { type: 'integer', minimum: 1 };
/** Every option in ms reaches a timer, and a timer of 2^31 ms or more fires after 1 ms. */
const duration = { type: 'integer', minimum: 1, maximum: MAX_DURATION_MS };
const nonEmpty = { type: 'string', minLength: 1 };
const absolute = (path: string, base: string): string => (isAbsolute(path) ? path : resolve(base, path));
/** A module specifier that names a file (`./x.js`, `../x.js`, `/x.js`) rather than a built-in. */
export const isModulePath = (specifier: string): boolean => /^\.{0,2}\//.test(specifier) || isAbsolute(specifier);

export const OPTION_SPECS = {
  port: {
    schema: { type: 'integer', minimum: 0, maximum: 65535 },
    default: 7070,
    describe: 'TCP port; 0 picks a free one',
    valueName: 'port',
  },
  host: {
    schema: nonEmpty,
    default: '127.0.0.1',
    describe: 'interface to listen on',
    valueName: 'host',
  },
  maxFrameBytes: {
    // A frame must hold 8 KiB of fields around a payload (protocol.md §3.4) and still carry one.
    schema: { type: 'integer', minimum: 16_384 },
    default: 1024 * 1024,
    defaultText: '1 MiB',
    describe: 'largest WebSocket frame accepted (at least 16 KiB); a larger one closes the connection with 1009',
  },
  maxMessageBytes: {
    schema: positive,
    default: 64 * 1024 * 1024,
    defaultText: '64 MiB',
    describe: 'largest payload of one message or tuple (`MESSAGE_TOO_LARGE`); a client without fragmentation is held to `maxFrameBytes` − 8 KiB',
  },
  maxSubscriptions: {
    schema: positive,
    default: 10_000,
    describe: 'subscriptions per connection (`TOO_MANY_SUBSCRIPTIONS`)',
  },
  maxPendingBytes: {
    schema: positive,
    default: 8 * 1024 * 1024,
    defaultText: '8 MiB',
    describe: 'outbound bytes buffered per connection before transient deliveries to it are dropped and reported; durable deliveries then wait in their queue, and tuple-space events past 4 × this close the connection (4007 `SLOW_CONSUMER`); see "Slow consumers and backpressure"',
  },
  writeDeadlineMs: {
    schema: duration,
    default: 10_000,
    describe: 'how long a connection\'s outbound bytes may stay over `maxPendingBytes` while its socket takes none of them; then it is closed with 4007 `SLOW_CONSUMER` (see "Slow consumers and backpressure")',
  },
  heartbeatMs: {
    schema: duration,
    default: 30_000,
    describe: 'WebSocket ping interval; a peer that misses one is terminated',
  },
  handshakeTimeoutMs: {
    schema: duration,
    default: 10_000,
    describe: 'time allowed between the upgrade and `hello` (close 4004)',
  },
  receiptTimeoutMs: {
    schema: duration,
    default: 30_000,
    describe: 'wait of a `delivery`/`processing` receipt when the publish names no timeout',
  },
  maxTimeoutMs: {
    schema: duration,
    default: 600_000,
    describe: 'upper bound on any timeout a client asks for',
  },
  maxTuplesPerSpace: {
    schema: positive,
    default: 1_000_000,
    describe: 'tuples one space may hold (`SPACE_FULL`)',
  },
  maxWaitersPerConnection: {
    schema: positive,
    default: 10_000,
    describe: 'blocked `in`/`rd` requests plus notify subscriptions per connection (`TOO_MANY_WAITERS`)',
  },
  // Broker-wide, so no mix of clients exhausts the heap. Measured (heap per item, 100,000 items):
  // a subscription ~0.8 KB, a waiting `in` with a timeout ~2.2 KB, a tuple about its encoded size
  // in binary but ~12 × for a tiny one (100 bytes: ~1.2 KB). Full, each limit alone takes about
  // 0.8 GB, 0.55 GB, and 0.15 (binary) to 1.6 (tiny tuples) GB: within the 2-4 GB heap Node gives
  // itself on machines of 8 GB and more. One address may take a tenth of the connections.
  maxConnections: {
    schema: positive,
    default: 10_000,
    describe: 'open connections in all; one more is closed at once with 4009 (see "Limits")',
  },
  maxConnectionsPerAddress: {
    schema: positive,
    default: 1_000,
    describe: 'open connections from one remote address (behind a proxy: all its clients, so raise it to `maxConnections` there); one more is closed with 4009',
  },
  maxSubscriptionsTotal: {
    schema: positive,
    default: 1_000_000,
    describe: 'subscriptions of all connections together (`TOO_MANY_SUBSCRIPTIONS`)',
  },
  maxWaitersTotal: {
    schema: positive,
    default: 250_000,
    describe: 'blocked `in`/`rd` requests plus notify subscriptions of all connections together (`TOO_MANY_WAITERS`)',
  },
  maxSpaceBytesTotal: {
    schema: positive,
    default: 128 * 1024 * 1024,
    defaultText: '128 MiB',
    describe: 'bytes of the tuples of all spaces together, reserved ones included, each counted as its MessagePack encoding (`SPACE_FULL`)',
  },
  maxRetainedTopics: {
    schema: positive,
    default: 10_000,
    describe: 'topics holding a retained message (`publish` with `retain`); a new one beyond it is refused with `RETAINED_FULL`',
  },
  maxRetainedBytes: {
    schema: positive,
    default: 64 * 1024 * 1024,
    defaultText: '64 MiB',
    describe: 'bytes of all retained messages together, each its payload plus its topic (`RETAINED_FULL`)',
  },
  maxScheduled: {
    schema: positive,
    default: 100_000,
    describe: 'scheduled publishes and outs (`delay`, `deliverAt`) held at once, persistent and transient together (`SCHEDULE_FULL`); persistent ones are all read back at start',
  },
  maxScheduledBytes: {
    schema: positive,
    default: 64 * 1024 * 1024,
    defaultText: '64 MiB',
    describe: 'bytes of the payloads and tuples of all scheduled publishes and outs together (`SCHEDULE_FULL`)',
  },
  maxScheduleDelayMs: {
    // Not `duration`: no timer gets it whole (the scheduler's heap re-arms below 2^31 ms).
    schema: { type: 'integer', minimum: 1, maximum: MAX_SCHEDULE_DELAY_MS },
    default: 30 * 24 * 3600 * 1000,
    defaultText: '30 days',
    describe: 'longest `delay` of a scheduled publish or out, and farthest `deliverAt` from now (`SCHEDULE_TOO_FAR`); up to one year',
  },
  maxLeaseMs: {
    schema: duration,
    default: 7 * 24 * 3600 * 1000,
    defaultText: '7 days',
    describe: 'longest tuple lease; a longer `ttl` is shortened and the reply says so',
  },
  maxArity: {
    schema: { type: 'integer', minimum: 1, maximum: MAX_ARITY },
    default: 64,
    describe: 'fields per tuple or template',
  },
  dedupeWindowMs: {
    schema: duration,
    default: 120_000,
    describe: 'how long a persistent message\'s `msgId` is remembered to drop repeats',
  },
  drainTimeoutMs: {
    schema: { ...duration, minimum: 0 },
    default: 20_000,
    describe: 'longest wait of a drain (SIGTERM, SIGINT, `broker.drain()`) for in-flight receipts and durable deliveries; then what still waits is answered as timed out and the broker closes. 0: no wait. Keep it below your supervisor\'s kill timeout (Kubernetes `terminationGracePeriodSeconds`, 30 s by default)',
  },
  logLevel: {
    schema: { enum: [...LOG_LEVELS] },
    default: 'info',
    describe: `pino level: ${LOG_LEVELS.map((l) => `\`${l}\``).join(', ')}`,
    valueName: 'level',
  },
  dataDir: {
    schema: nonEmpty,
    defaultText: 'none',
    describe: 'folder of the embedded LMDB store, held by one broker at a time (`DATA_DIR_LOCKED`, see "One broker per data folder"); without it everything is kept in memory',
    flag: 'data',
    valueName: 'dir',
    serveDefault: './linden-data',
    clearFlag: { name: 'memory', describe: 'keep everything in memory: nothing survives the process' },
    paths: (dir: string, base: string) => absolute(dir, base),
  },
  redis: {
    schema: { type: 'string', pattern: '^rediss?://' },
    defaultText: 'none',
    describe: 'cluster mode: `redis://host:port` (or `rediss://`) of the Redis 7 that the brokers of one cluster share; publishes reach subscribers on every node, durable queues and persistent messages live in Redis Streams (see "Running a cluster"); `?wait=N&waitTimeout=MS` also waits for N replicas before a persistent publish is acknowledged',
    valueName: 'url',
    redact: redactedRedisUrl,
  },
  maxStoreBytes: {
    schema: positive,
    defaultText: 'what the store holds at start + 90% of the free disk',
    describe: 'most bytes the store may hold (LMDB pages in use); at it, or with the disk full, persistent publishes, new durable subscriptions and outs to persistent spaces get `STORE_FULL` while transient traffic goes on (see "Storage and backlogs"); unlimited without a data folder',
  },
  interceptors: {
    schema: {
      type: 'array',
      items: { type: 'object', properties: { name: { type: 'string', minLength: 1 } }, required: ['name'] },
    },
    defaultText: '`[fragmentation()]`',
    describe: 'interceptors from the handlers to the socket (see "Interceptors and large messages"); a list given replaces the default. In a config file, LINDEN_* or a flag: names, `fragmentation` for the built-in, or paths of ES modules',
    serveDefault: ['fragmentation'],
    configSchema: { type: 'array', maxItems: 100, items: { type: 'string', minLength: 1, maxLength: 4096 } },
    paths: (list: string[], base: string) => list.map((s) => (isModulePath(s) ? absolute(s, base) : s)),
  },
  tls: {
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: { cert: nonEmpty, key: nonEmpty },
      required: ['cert', 'key'],
    },
    defaultText: 'none',
    describe: '`{ cert, key }`: paths of PEM files (the certificate with its chain, and its unencrypted key). The broker then serves `wss://` and HTTPS on its port, and `broker.url` is `wss://`. Read at start and by `broker.reloadTls()` (`linden serve`: on SIGHUP); a file that cannot be read or a key that does not match is `INVALID_OPTIONS`',
    parts: ['cert', 'key'],
    valueName: 'file',
    paths: (tls: { cert: string; key: string }, base: string) => ({ cert: absolute(tls.cert, base), key: absolute(tls.key, base) }),
  },
  allowedOrigins: {
    // Each entry is checked to be an origin by resolveOptions(); the schema only bounds the list.
    schema: { type: 'array', maxItems: 1000, items: { type: 'string', minLength: 1, maxLength: 2048 } },
    defaultText: 'loopback origins',
    describe: 'origins (`https://app.example.com`) whose web pages may open a WebSocket; `\'*\'` admits any, `[]` none. A request with another `Origin` gets HTTP 403. Without the option: pages on `localhost`, `127.0.0.0/8` and `[::1]` (http or https, any port). Requests without `Origin` (non-browser clients) always pass',
    flag: 'allowed-origin',
    valueName: 'origin',
  },
  auth: {
    schema: AUTH_SCHEMA,
    defaultText: 'none',
    describe: 'users, their passwords, tokens and permissions, and a JWT issuer (see "Security"); without it every client may do everything',
    redact: redactAuth,
  },
  metricsAuth: {
    schema: { type: 'boolean' },
    default: false,
    describe: 'with `auth`: `/metrics` needs an admin\'s credentials like `/api`',
  },
} satisfies OptionSpecs;

export type OptionName = keyof typeof OPTION_SPECS;
export const OPTION_NAMES = Object.keys(OPTION_SPECS) as OptionName[];

/** The spec of `name`, typed loosely for code that treats every option alike. */
export function specOf(name: OptionName): OptionSpec<unknown> {
  return OPTION_SPECS[name] as OptionSpec<unknown>;
}

/** The object schema over every option: of startBroker()'s values, or of a config's (`config`). */
export function optionsSchema(kind: 'broker' | 'config'): JsonSchema {
  const properties = Object.fromEntries(OPTION_NAMES.map((name) => {
    const spec = specOf(name);
    return [name, kind === 'config' ? spec.configSchema ?? spec.schema : spec.schema];
  }));
  return { type: 'object', additionalProperties: false, properties };
}

/** Password and token hashes and the JWT key, replaced so a printed config holds no secret. */
function redactAuth(auth: AuthOptions): unknown {
  return {
    ...auth,
    ...(auth.users ? {
      users: auth.users.map((u) => ({
        ...u,
        ...(u.password === undefined ? {} : { password: REDACTED }),
        ...(u.token === undefined ? {} : { token: REDACTED }),
      })),
    } : {}),
    ...(auth.jwt ? { jwt: { ...auth.jwt, publicKey: REDACTED } } : {}),
  };
}
