import type { CodecName } from '../protocol/version.js';
import type { ReconnectOptions } from './backoff.js';

export interface ConnectOptions {
  /** Shown by the broker in logs and inspection. */
  name?: string;
  /** Wire codec. Default 'msgpack'; 'json' speaks JSON text frames. */
  codec?: CodecName;
  /** Reconnect with back-off after a lost connection. Default true. */
  reconnect?: boolean | ReconnectOptions;
  /** Bytes of publishes kept while disconnected; beyond it publish() fails with BUFFER_FULL. Default 8 MiB. */
  maxBufferedBytes?: number;
  /** Time allowed for the WebSocket upgrade and hello/welcome. Default 10,000 ms. */
  connectTimeoutMs?: number;
}

export type AckLevelOption = 'none' | 'submission' | 'delivery' | 'processing';

export interface PublishOptions {
  /** Synchronisation point to wait for. Default 'none'. */
  ack?: AckLevelOption;
  /** Bound on the wait for `delivery`/`processing`, in ms; the broker default applies when absent. */
  timeout?: number;
  /** Publisher-chosen message id. */
  mid?: string;
}
