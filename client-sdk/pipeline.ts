import type { Parts, Piece } from '../protocol/codec.js';
import type { LindenError } from '../protocol/errors.js';
import type { Extensions } from '../protocol/frames.js';
import { announcements, type Interceptor, type InterceptorContext } from '../protocol/interceptor.js';
import { MessageChain } from '../protocol/message-chain.js';
import { RequestHooks } from '../protocol/request-hooks.js';

/** What the client provides to one connection's message-level chain. */
export interface ConnectionEnds {
  toSocket(piece: Piece | Parts): void;
  toApp(message: unknown): void;
  fail(err: LindenError): void;
  pendingBytes(): number;
  peerMaxFrameBytes(): number;
  whenDrained(fn: () => void): void;
}

/**
 * The client's interceptors: request-level hooks live as long as the client, the message-level
 * chain as long as one connection (fragment ids and partial messages mean nothing on the next).
 */
export class ClientPipeline {
  readonly outbound: RequestHooks;
  readonly inbound: RequestHooks;
  private chain: MessageChain | undefined;
  private peerExt: Extensions = {};

  constructor(private readonly interceptors: readonly Interceptor[], private readonly ctx: InterceptorContext, private readonly maxMessageBytes: number) {
    this.outbound = new RequestHooks(interceptors, 'outbound', ctx);
    this.inbound = new RequestHooks(interceptors, 'inbound', ctx);
  }

  /** The `ext` of `hello`. */
  get announced(): Extensions | undefined {
    return announcements(this.interceptors);
  }

  /** A new socket: a new chain, or none when no interceptor works at message level. */
  connected(ends: ConnectionEnds): MessageChain | undefined {
    this.chain?.close();
    this.peerExt = {};
    const ctx = this.ctx;
    const chain = new MessageChain(this.interceptors, {
      side: 'client',
      get connectionId() { return ctx.connectionId; },
      codec: this.ctx.codec,
      maxMessageBytes: this.maxMessageBytes,
      peerExt: (name) => this.peerExt[name],
      ...ends,
    });
    this.chain = chain.isEmpty ? undefined : chain;
    return this.chain;
  }

  /** After `welcome`: messages of at least the returned size must go through the chain. */
  negotiated(ext: Extensions | undefined): number {
    this.peerExt = ext ?? {};
    return this.chain ? this.chain.minBytes : Infinity;
  }

  disconnected(): void {
    this.chain?.close();
    this.chain = undefined;
  }
}
