import type { Codec, Parts, Piece } from '../protocol/codec.js';
import type { LindenError } from '../protocol/errors.js';
import type { Interceptor, InterceptorContext } from '../protocol/interceptor.js';
import type { ChainEnds } from '../protocol/message-chain.js';
import { RequestHooks } from '../protocol/request-hooks.js';
import type { Connection, ConnectionLimits } from './connection.js';
import { requestIdOf } from './inbox.js';

// What a connection gives its interceptors: the ends of its message-level chain and its
// request-level hooks, made so that an idle connection with the default interceptors holds
// little (issue 14).

/** The two ends of a connection's message-level chain; methods rather than a closure each (issue 14). */
export class ConnectionEnds implements ChainEnds {
  constructor(private readonly conn: Connection, private readonly limits: ConnectionLimits) {}

  get side(): 'broker' { return 'broker'; }
  get connectionId(): string { return this.conn.id; }
  get codec(): Codec { return this.conn.codec; }
  get maxMessageBytes(): number { return this.limits.maxMessageBytes; }
  get remoteAddress(): string { return this.conn.remoteAddress; }
  toSocket(piece: Piece | Parts): void { this.conn.write(piece); }
  toApp(message: unknown): void { this.conn.receive(this.conn, message); }
  // A fault in a message the chain was handed (a `frag`) names that message's id (protocol.md §2.1).
  fail(err: LindenError): void { this.conn.sendError(err, requestIdOf(this.conn.inbox.inChain)); }
  pendingBytes(): number { return this.conn.wireBytes; }
  // The SDK accepts frames up to 256 MiB; pieces it sends stay under the broker's own limit.
  peerMaxFrameBytes(): number { return this.limits.maxFrameBytes; }
  peerExt(name: string): Record<string, unknown> | undefined { return this.conn.peerExt[name]; }
  whenDrained(fn: () => void): void { this.conn.whenDrained(fn); }
  // A frame no request-level hook sees may reach the publish path with its payload still arriving.
  takesStreams(): boolean { return this.conn.codec.name === 'msgpack' && this.conn.inbound.isEmpty && this.conn.outbound.isEmpty; }
}

/** Without request-level hooks (the default), every connection shares one empty RequestHooks. */
const NO_HOOKS = new RequestHooks([], 'inbound', { side: 'broker', connectionId: '', codec: undefined as never });

/** A connection's request-level hooks in one direction; the shared empty ones when no interceptor has any. */
export function requestHooks(interceptors: readonly Interceptor[], direction: 'inbound' | 'outbound', conn: Connection): RequestHooks {
  if (!interceptors.some((i) => i[direction])) return NO_HOOKS;
  const ctx: InterceptorContext = { side: 'broker', connectionId: conn.id, codec: conn.codec };
  return new RequestHooks(interceptors, direction, ctx);
}
