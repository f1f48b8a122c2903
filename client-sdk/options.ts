import { LindenError } from '../protocol/errors.js';
import { MAX_DURATION_MS } from '../protocol/limits.js';
import type { CodecName } from '../protocol/version.js';
import type { ReconnectOptions } from './backoff.js';
import type { AdminOp } from '../protocol/frames.js';
import { QUEUE_SETTINGS } from '../protocol/queue-settings.js';
import type { Interceptor } from '../protocol/interceptor.js';

export interface ConnectOptions {
  /** Shown by the broker in logs and inspection. */
  name?: string;
  /** Wire codec. Default 'msgpack'; 'json' speaks JSON text frames. */
  codec?: CodecName;
  /** Reconnect with back-off after a lost connection. Default true. */
  reconnect?: boolean | ReconnectOptions;
  /** Bytes of publishes kept while disconnected or held back from a draining broker; beyond it publish() fails with BUFFER_FULL. Default 8 MiB. */
  maxBufferedBytes?: number;
  /** Time allowed for the WebSocket upgrade and hello/welcome. Default 10,000 ms. */
  connectTimeoutMs?: number;
  /**
   * Interceptors, from the application to the socket (protocol.md §4). Default
   * `[fragmentation()]`; a list given here replaces it, so keep `fragmentation()` in it to send
   * and receive messages larger than one frame.
   */
  interceptors?: Interceptor[];
  /** Largest message this client reassembles from fragments. Default 64 MiB. */
  maxMessageBytes?: number;
  /** Log in as this user, with `password` (README "Security"); sent in `hello`, never in the URL. */
  user?: string;
  password?: string;
  /** Log in with a token from `linden passwd --token`. */
  token?: string;
  /** Log in with a JWT; a function is asked again before each reconnection, so it can refresh an expiring token. */
  jwt?: string | (() => string | Promise<string>);
  /**
   * TLS for `wss://` URLs, in Node. The broker's certificate is always verified (against Node's
   * built-in CAs unless `ca` is given) and its name checked against the URL's host. Browsers do
   * TLS themselves and ignore this option: there, trust a private CA in the system or browser.
   */
  tls?: TlsOptions;
  /**
   * A last will (README "Last wills", protocol.md §4.8): a message the broker publishes for this
   * client when its connection ends without `close()` (lost socket, missed heartbeats, kicked,
   * closed as a slow consumer). The user must be allowed to publish on its topic, or connect()
   * fails with PERMISSION_DENIED.
   */
  will?: WillOptions;
}

/** A last will. An object, so that later options (such as retain) are fields of it. */
export interface WillOptions {
  /** Concrete topic it is published on. */
  topic: string;
  /** Payload, encoded as a publish's; it travels in `hello`, so it must fit one frame (maxFrameBytes). */
  data: unknown;
  /** As for publish: 'transient' (default) or 'persistent'. */
  mode?: 'transient' | 'persistent';
  /**
   * ms the broker waits before publishing it; if this client reconnects within them (the SDK
   * does by itself), the will is not published. Default 0: at once.
   */
  delay?: number;
  /**
   * Published with `retain` (README "Retained messages"): the topic's retained message then says
   * the client is gone, for subscribers that come later too. With a retained "online" published
   * at connect, that is presence.
   */
  retain?: boolean;
}

/** Checks `will` (TypeScript does not protect JavaScript callers); the broker checks the topic's syntax and rights. */
export function checkWillOptions(will: unknown): void {
  if (will === undefined) return;
  const w = will as Partial<WillOptions> | null;
  const bad = (why: string): never => { throw new LindenError('INVALID_OPTIONS', `will ${why}`); };
  if (typeof w !== 'object' || w === null) bad('must be an object { topic, data, mode?, delay?, retain? }');
  for (const key of Object.keys(w!)) if (!WILL_FIELDS.includes(key)) bad(`has an unknown field "${key.slice(0, 32)}"; it takes topic, data, mode, delay and retain`);
  if (typeof w!.topic !== 'string' || w!.topic.length === 0) bad('.topic must be a non-empty string');
  if (!('data' in w!)) bad('.data is required');
  if (w!.mode !== undefined && w!.mode !== 'transient' && w!.mode !== 'persistent') bad('.mode must be "transient" or "persistent"');
  if (w!.delay !== undefined && (!Number.isInteger(w!.delay) || w!.delay < 0 || w!.delay > MAX_DURATION_MS)) bad(`.delay must be an integer from 0 to ${MAX_DURATION_MS} ms`);
  if (w!.retain !== undefined && typeof w!.retain !== 'boolean') bad('.retain must be a boolean');
}

const WILL_FIELDS = ['topic', 'data', 'mode', 'delay', 'retain'];

export interface TlsOptions {
  /**
   * PEM certificate(s) of the CA(s) that signed the broker's certificate, for a private CA
   * (string or Buffer, or a list). They replace Node's built-in CAs for this connection.
   */
  ca?: string | Uint8Array | ReadonlyArray<string | Uint8Array>;
}

/** `hello.auth` from the options, or undefined for an anonymous client (protocol.md §4.7). */
export async function credentialsOf(o: ConnectOptions): Promise<Record<string, string> | undefined> {
  if (o.jwt !== undefined) return { jwt: typeof o.jwt === 'function' ? await o.jwt() : o.jwt };
  if (o.token !== undefined) return { token: o.token };
  if (o.user !== undefined) return { user: o.user, password: o.password ?? '' };
  return undefined;
}

export type AckLevelOption = 'none' | 'submission' | 'delivery' | 'processing';

export interface PublishOptions {
  /** Synchronisation point to wait for. Default 'none'. */
  ack?: AckLevelOption;
  /** Bound on the wait for `delivery`/`processing`, in ms; the broker default applies when absent. */
  timeout?: number;
  /** Publisher-chosen message id (alias `msgId`); for persistent messages a repeat within the broker's dedupe window is not stored again. */
  mid?: string;
  msgId?: string;
  /** 'transient' (default): delivered to whoever is subscribed now. 'persistent': stored for every matching durable subscription until acked. */
  mode?: 'transient' | 'persistent';
  /** Persistent messages: discarded unread after this many ms. */
  ttl?: number;
  /**
   * Headers delivered with the message as `Message.headers` (and stored with a persistent one):
   * at most 32, names of 1-64 characters, string values of at most 1024.
   */
  headers?: Record<string, string>;
  /**
   * Keep this message as the topic's retained one: subscriptions made later with
   * `{ retained: true }` get it first. Kept on disk when `mode` is 'persistent', in the broker's
   * memory otherwise. An empty payload (`''`, `null` or empty bytes) clears it. README "Retained messages".
   */
  retain?: boolean;
  /**
   * Scheduled delivery (README "Scheduled delivery"): the broker routes the message this many ms
   * from now (`delay`) or at `deliverAt` (ms since the epoch), never earlier; give one of them.
   * A persistent one is stored at once and survives restarts; a transient one is dropped if the
   * broker restarts first. A receipt's `id` cancels it (`cancelScheduled`); `delivery` and
   * `processing` receipts, and their `timeout`, count from the due time.
   */
  delay?: number;
  deliverAt?: number;
}

/**
 * Settings of a durable subscription, set when it is created and changed by `createQueue`; a
 * `subscribe` may only repeat them. See README "Persistent messages".
 */
export interface QueueSettings {
  /** ms a consumer has to ack a delivery before it is redelivered. Default 30,000. */
  ackWait?: number;
  /** Unacknowledged deliveries per consumer. Default 1,000. */
  maxInFlight?: number;
  /** Deliveries before a message moves to the dead-letter queue `<name>.dlq`. Default 5. */
  maxDeliveries?: number;
  /** Messages held. Default 1,000,000. */
  maxMessages?: number;
  /** Payload bytes held. Default 256 MiB. */
  maxBytes?: number;
  /** When full: 'reject' new persistent publishes with QUEUE_FULL (default), or 'drop-oldest' and count the drops. */
  overflow?: 'reject' | 'drop-oldest';
}

/** Checks the shape of `tls` (TypeScript does not protect JavaScript callers). */
export function checkTlsOptions(tls: unknown): void {
  if (tls === undefined) return;
  const pem = (v: unknown): boolean => typeof v === 'string' || v instanceof Uint8Array;
  const ca = (tls as { ca?: unknown } | null)?.ca;
  const good = typeof tls === 'object' && tls !== null && (ca === undefined || pem(ca) || (Array.isArray(ca) && ca.every(pem)));
  if (!good) throw new LindenError('INVALID_OPTIONS', 'tls must be an object whose ca, if given, is a PEM string or Buffer, or a list of them');
}

export { QUEUE_SETTINGS } from '../protocol/queue-settings.js';
export const DURABLE_OPTIONS = ['durable', ...QUEUE_SETTINGS] as const;
export const STREAM_OPTIONS = ['stream', 'start', 'reader', 'ackWait'] as const;

/** Retention of a replayable stream (README "Replayable streams"); a limit not given is none (or, for an existing stream, unchanged). */
export interface StreamSettings {
  /** ms a message is kept after its append. */
  maxAge?: number;
  /** Messages kept. */
  maxMessages?: number;
  /** Payload bytes kept. */
  maxBytes?: number;
  /** At a limit: 'old' drops the oldest messages (default); 'new' refuses the new one with STREAM_FULL in the publisher's receipt. */
  discard?: 'old' | 'new';
}
export type { ReaderInfo, StreamInfo } from '../protocol/stream-info.js';
export const STREAM_SETTINGS = ['maxAge', 'maxMessages', 'maxBytes', 'discard'] as const;

/** The listed options that are set, as frame fields. */
export function definedOnly(source: object, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const v = (source as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** An admin operation and the fields it takes (protocol.md §17). */
export interface AdminRequest {
  op: AdminOp;
  /** Queue or space name (queue, space, purge, retry). */
  name?: string;
  /** Connection id (kick). */
  connection?: string;
  /** Messages or tuples to show (queue, space). */
  peek?: number;
  /** Cluster mode: `node` lists the asked node's connections or subscriptions only (connections, subscriptions). */
  scope?: 'cluster' | 'node';
}

export const ADMIN_FIELDS = ['op', 'name', 'connection', 'peek', 'scope'] as const;
