import type { Codec, Parts, Piece } from './codec.js';
import type { LindenError } from './errors.js';

/**
 * Interceptors, the extension point of both sides (DESIGN.md §1). A list of them is ordered
 * from the application to the socket: outgoing traffic passes them first to last, incoming
 * traffic last to first. The built-ins (fragmentation, trace context) are ordinary ones.
 */
export interface Interceptor {
  /** Shown in logs and errors; built-ins are named 'fragmentation' and 'trace-context'. */
  readonly name: string;
  /**
   * Request level: a frame this side is about to send, as an object before encoding. Return a
   * replacement, nothing to send it as it is, or throw (or reject with) a LindenError to stop
   * it: the operation fails with that error. May be async; frames keep their order.
   */
  outbound?(frame: Frame, ctx: InterceptorContext): FrameResult;
  /**
   * Request level: a frame that arrived, decoded (and, on the broker, validated), before it is
   * handled. On the broker a rejection is answered to the sender as an `err` frame naming its id.
   */
  inbound?(frame: Frame, ctx: InterceptorContext): FrameResult;
  /** Message level: called once per connection; the hooks see that connection's encoded messages. */
  link?(link: Link): LinkHooks;
  /**
   * Settings announced to the peer in `hello`/`welcome` under `ext[name]` (protocol.md §4).
   * `own.maxFrameBytes` is the largest frame this side accepts, where it has a limit to state.
   */
  announce?(own: { maxFrameBytes?: number }): Record<string, unknown>;
}

/** A protocol message as an object; `t` names its type. */
export type Frame = { t: string; [field: string]: unknown };
export type FrameResult = Frame | void | Promise<Frame | void>;

export interface InterceptorContext {
  readonly side: 'client' | 'broker';
  /** The broker's id of the connection ('' on the client before the handshake). */
  readonly connectionId: string;
  readonly codec: Codec;
}

/** A connection as message-level hooks see it; each hook's link leads to the next interceptor. */
export interface Link extends InterceptorContext {
  /** Passes an encoded message on towards the socket. */
  send(piece: Piece | Parts): void;
  /** Passes a decoded message on towards the application. */
  receive(message: unknown): void;
  /** Reports a fault in what the peer sent: the broker answers it with an `err` frame, the client emits an error status event. */
  fail(err: LindenError): void;
  /** Outbound bytes queued on this connection and not yet taken by the kernel. */
  readonly pendingBytes: number;
  /** Largest message this side accepts (its maxMessageBytes). */
  readonly maxMessageBytes: number;
  /** Largest WebSocket frame the peer accepts. */
  readonly peerMaxFrameBytes: number;
  /**
   * The peer's network address where this side knows it (the broker: the client's IP address),
   * so a hook can bound what the connections of one host take together; undefined on the client.
   */
  readonly remoteAddress?: string;
  /** What the peer announced under `ext[name]` for an interceptor of this name; undefined before the handshake or when it did not. */
  peerExt(name: string): Record<string, unknown> | undefined;
  /** Calls `fn` once the queued outbound bytes have (mostly) left, so a sender can pace itself. */
  whenDrained(fn: () => void): void;
  /**
   * True where a message may be handed on before all of it arrived: a `pub` whose `data` is a
   * StreamedBytes (protocol/byte-stream.ts). Only the broker, and only when this hook is the
   * one message-level hook and no request-level hook would see the frame.
   */
  readonly takesStreams?: boolean;
}

export interface LinkHooks {
  /**
   * Outgoing messages of fewer bytes (characters for JSON) skip `send`: small messages stay on
   * the hot path, which writes them straight into the frame being filled. Read on every
   * message, so it may change after the handshake. Default 0: every message.
   */
  readonly minBytes?: number;
  /**
   * An encoded message on its way to the socket: bytes, JSON text, or (large broker deliveries)
   * MessagePack `Parts` whose join() is the bytes. Call link.send zero, one or many times, now or later.
   */
  send?(piece: Piece | Parts): void;
  /** A decoded message from the socket; call link.receive to pass it (or another) on, or not at all to absorb it. */
  receive?(message: unknown): void;
  /** Bytes the hook holds to send later: they count towards the connection's pending bytes. */
  readonly queuedBytes?: number;
  /** The connection is gone: release what is held for it. */
  close?(): void;
}

/** What a side's interceptors announce in `hello`/`welcome`: `ext[name]`, or undefined when none does. */
export function announcements(
  interceptors: readonly Interceptor[], own: { maxFrameBytes?: number } = {},
): Record<string, Record<string, unknown>> | undefined {
  let ext: Record<string, Record<string, unknown>> | undefined;
  for (const i of interceptors) {
    const settings = i.announce?.(own);
    if (settings) (ext ??= {})[i.name] = settings;
  }
  return ext;
}
