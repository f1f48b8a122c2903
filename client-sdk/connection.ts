import type { Codec } from '../protocol/codec.js';
import { CLOSE_CODES, LindenError } from '../protocol/errors.js';
import type { Extensions, WelcomeFrame, WillFrame } from '../protocol/frames.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';
import { ReconnectPolicy } from './backoff.js';
import type { ConnectionState } from './connection-state.js';
import { Heartbeat } from './heartbeat.js';
import { InboundRouter, type ConnectionControl } from './inbound.js';
import type { MessageOwner } from './message.js';
import { credentialsOf, type ConnectOptions } from './options.js';
import type { Outbound } from './outbound.js';
import type { PendingCalls } from './pending-calls.js';
import type { ClientPipeline } from './pipeline.js';
import type { StatusFeed } from './status.js';
import type { ClientSpaces } from './spaces.js';
import type { ClientSubscriptions } from './subscriptions.js';
import type { ServerList } from './servers.js';
import { openSocket, sendPiece, whenDrained } from './transport.js';
import { onWake } from './wake-events.js';

/** How long a probe after a wake-up waits for the broker's answer before giving up on the socket. */
const WAKE_PROBE_MS = 5_000;

/** The parts of the client a connection's coming and going concerns. */
export interface ConnectionParts {
  owner: MessageOwner;
  codec: Codec;
  pipeline: ClientPipeline;
  outbound: Outbound;
  pending: PendingCalls;
  subs: ClientSubscriptions;
  spaces: ClientSpaces;
  feed: StatusFeed;
}

/**
 * The socket's lifecycle: opening it and the hello/welcome handshake, the heartbeat, giving up
 * on a silent or draining broker, reconnecting with back-off to the next URL, and closing for good.
 */
export class Connection implements ConnectionControl {
  readonly inbound: InboundRouter;
  private readonly reconnect: ReconnectPolicy;
  private readonly heartbeat = new Heartbeat();
  private handshake: { resolve(): void; reject(err: Error): void } | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** Why the socket failed, if it said (ECONNREFUSED, HTTP 400...): named in handshake errors. */
  private lastSocketError: string | undefined;
  /** The first connection is being tried, broker after broker: a failure is start()'s to handle. */
  private starting = false;
  /** Stops listening to the browser's wake-up events. */
  private stopWakeEvents: () => void = () => {};
  /**
   * `hello.will` and `hello.session` (protocol.md §4.8), the same in every hello of this client:
   * the session id, made once here, is how the broker knows a reconnection is this client back
   * within its will's delay.
   */
  private readonly willFields: { will: WillFrame; session: string } | undefined;

  constructor(
    private readonly servers: ServerList,
    private readonly options: ConnectOptions,
    private readonly conn: ConnectionState,
    private readonly parts: ConnectionParts,
  ) {
    this.reconnect = new ReconnectPolicy(options.reconnect, this.servers.size);
    const w = options.will;
    if (w) {
      const will: WillFrame = { topic: w.topic, data: parts.codec.packData(w.data) };
      if (w.mode === 'persistent') will.mode = 'persistent';
      if (w.delay) will.delay = w.delay;
      if (w.retain === true) will.retain = true;
      this.willFields = { will, session: sessionId() };
    }
    this.inbound = new InboundRouter(conn, parts.codec, parts.pipeline, { ...parts, heartbeat: this.heartbeat, control: this });
  }

  /** The broker's URL: the one connected to, or, while reconnecting, the one tried next. */
  get url(): string {
    return this.servers.current;
  }

  /** The first connection: each broker in turn until one completes the handshake. */
  async start(): Promise<void> {
    this.starting = true;
    this.stopWakeEvents = onWake(() => this.wake());
    try {
      for (let tried = 1; ; tried++) {
        try {
          return await this.open();
        } catch (err) {
          if (tried >= this.servers.size) {
            this.shutdown(err as LindenError);
            throw err;
          }
          this.servers.advance();
        }
      }
    } finally {
      this.starting = false;
    }
  }

  close(): void {
    if (this.conn.phase === 'closed') return;
    this.parts.outbound.flushNow();
    this.shutdown(new LindenError('CLOSED'));
    this.conn.socket?.close(1000, 'client closed');
  }

  /**
   * The network came back or the page is shown again: a reconnection waiting out its back-off
   * goes now (from the first delay again), and an open socket, which may have died unnoticed
   * meanwhile, is asked for a sign of life.
   */
  wake(): void {
    if (this.conn.phase === 'reconnecting' && this.reconnectTimer !== undefined) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
      this.reconnect.restart();
      this.open().catch(() => {});
    } else if (this.conn.phase === 'open' && this.conn.live !== 0) {
      this.heartbeat.probe(WAKE_PROBE_MS);
    }
  }

  /** Opens a socket and performs the handshake. */
  private open(): Promise<void> {
    const { conn, parts } = this;
    const epoch = ++conn.epoch;
    const done = new Promise<void>((resolve, reject) => { this.handshake = { resolve, reject }; });
    const timer = setTimeout(() => {
      this.handshakeFailed(new LindenError('CONNECTION_REFUSED', `no welcome from ${this.url} within the connect timeout`));
      conn.socket?.close(1000);
    }, this.options.connectTimeoutMs ?? 10_000);
    const chain = parts.pipeline.connected({
      toSocket: (piece) => { if (conn.live === epoch && conn.socket) sendPiece(conn.socket, piece); },
      toApp: (message) => this.inbound.onInbound(message, epoch),
      fail: (error) => parts.feed.emit({ type: 'error', error }),
      pendingBytes: () => (conn.socket?.bufferedAmount ?? 0) + parts.outbound.queuedBytes,
      peerMaxFrameBytes: () => conn.limits?.maxFrameBytes ?? 0,
      whenDrained: (fn) => { if (conn.socket) whenDrained(conn.socket, fn); },
    });
    conn.chain = chain;
    const ext = parts.pipeline.announced;
    openSocket(this.url, [parts.codec.subprotocol], {
      open: () => void this.hello(epoch, ext),
      message: (data, isBinary) => this.inbound.onFrame(data, isBinary, epoch, chain),
      close: (code, reason) => this.onClose(code, reason, epoch),
      error: (err) => { this.lastSocketError = err.message; },
    }, this.options.tls).then((socket) => { if (epoch === conn.epoch) conn.socket = socket; }, (err: Error) => this.handshakeFailed(new LindenError('CONNECTION_REFUSED', err.message)));
    return done.finally(() => clearTimeout(timer));
  }

  private async hello(epoch: number, ext: Extensions | undefined): Promise<void> {
    let auth: Record<string, string> | undefined;
    try {
      auth = await credentialsOf(this.options);
    } catch (err) {
      this.handshakeFailed(new LindenError('CONNECTION_REFUSED', `no credentials: ${(err as Error).message}`));
      this.conn.socket?.close(1000);
      return;
    }
    if (epoch !== this.conn.epoch) return;
    this.parts.outbound.sendNow({
      t: 'hello', id: 0, v: PROTOCOL_VERSION, ...(this.options.name ? { name: this.options.name } : {}), ...(ext ? { ext } : {}), ...(auth ? { auth } : {}),
      ...this.willFields,
    });
  }

  welcomed(frame: WelcomeFrame, epoch: number): void {
    const { conn, parts } = this;
    conn.live = epoch;
    conn.phase = 'open';
    this.reconnect.connected();
    conn.connectionId = frame.connectionId;
    conn.limits = frame.limits;
    conn.drainingEpoch = 0;
    conn.unsettled = 0;
    parts.outbound.connected(frame.limits.maxFrameBytes, parts.pipeline.negotiated(frame.ext));
    this.heartbeat.start(frame.heartbeatMs, () => parts.outbound.ping(), () => {
      this.abandon(CLOSE_CODES.HEARTBEAT_TIMEOUT.code, 'no answer to pings');
    });
    parts.subs.restore();
    parts.spaces.restore();
    parts.outbound.scheduleFlush();
    this.handshake?.resolve();
    this.handshake = undefined;
    parts.feed.emit({ type: 'connected', connectionId: frame.connectionId, url: this.url });
  }

  refuseHandshake(err: LindenError): boolean {
    if (!this.handshake) return false;
    this.handshakeFailed(err);
    // A refused hello (a will the user may not publish) leaves the broker waiting for another: this socket is done.
    this.conn.socket?.close(1000);
    return true;
  }

  /**
   * Gives up on the current socket at once rather than waiting for a close handshake a silent
   * broker may never answer. Its close event and any late frame then belong to an old epoch and
   * are ignored, so they cannot run the close path a second time and open a second socket.
   */
  abandon(code: number, reason: string): void {
    const socket = this.conn.socket;
    this.onClose(code, reason, this.conn.epoch);
    this.conn.epoch++;
    socket?.close(code, reason);
  }

  private onClose(code: number, reason: string, epoch: number): void {
    const conn = this.conn;
    if (epoch !== conn.epoch) return;
    const wasLive = conn.live === epoch;
    conn.live = 0;
    conn.socket = undefined;
    this.parts.pipeline.disconnected();
    conn.chain = undefined;
    this.heartbeat.stop();
    const why = reason || this.lastSocketError;
    this.lastSocketError = undefined;
    this.handshakeFailed(new LindenError('CONNECTION_REFUSED', `connection closed during handshake (${code}${why ? ': ' + why : ''})`, { code, reason: why ?? '' }));
    if (conn.phase === 'closed' || this.starting) return;
    const lost = new LindenError('DISCONNECTED', `connection lost (${code}${reason ? ': ' + reason : ''})`, { code, reason });
    this.parts.pending.failSent(lost, epoch);
    this.parts.outbound.connectionLost();
    conn.drainingEpoch = 0;
    conn.unsettled = 0;
    if (wasLive) this.parts.feed.emit({ type: 'disconnected', code, reason });
    const next = this.reconnect.next(code);
    if (next === 'never') this.shutdown(lost);
    else if (next === 'gave up') this.shutdown(new LindenError('DISCONNECTED', `gave up after ${this.reconnect.attempted} reconnection attempts`));
    else {
      conn.phase = 'reconnecting';
      this.servers.advance();
      this.parts.feed.emit({ type: 'reconnecting', attempt: next.attempt, delayMs: next.delayMs });
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = undefined;
        this.open().catch(() => {});
      }, next.delayMs);
    }
  }

  private handshakeFailed(err: LindenError): void {
    const handshake = this.handshake;
    this.handshake = undefined;
    handshake?.reject(err);
  }

  private shutdown(err: LindenError): void {
    if (this.conn.phase === 'closed') return;
    this.conn.phase = 'closed';
    this.conn.live = 0;
    this.heartbeat.stop();
    this.stopWakeEvents();
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.handshakeFailed(err);
    this.parts.pending.failSent(err);
    this.parts.subs.end(err);
    this.parts.spaces.end(err);
    this.parts.feed.emit({ type: 'closed' });
    this.parts.feed.end();
  }
}

/** 128 random bits, base64url: a client's `hello.session`, unguessable and never reused. */
function sessionId(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
