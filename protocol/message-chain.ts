import type { Codec, Parts, Piece } from './codec.js';
import type { LindenError } from './errors.js';
import type { Interceptor, InterceptorContext, Link, LinkHooks } from './interceptor.js';

/** What one side provides at the two ends of a connection's message-level chain. */
export interface ChainEnds extends InterceptorContext {
  toSocket(piece: Piece | Parts): void;
  toApp(message: unknown): void;
  fail(err: LindenError): void;
  pendingBytes(): number;
  readonly maxMessageBytes: number;
  readonly remoteAddress?: string;
  peerMaxFrameBytes(): number;
  peerExt(name: string): Record<string, unknown> | undefined;
  whenDrained(fn: () => void): void;
  /** Whether the application end takes a `pub` whose payload is still arriving (Link.takesStreams). */
  takesStreams?(): boolean;
}

/** The message-level hooks of one connection, linked in order (application first, socket last). */
export class MessageChain {
  private readonly hooks: LinkHooks[] = [];

  constructor(interceptors: readonly Interceptor[], readonly ends: ChainEnds) {
    for (const interceptor of interceptors) {
      if (!interceptor.link) continue;
      const at = this.hooks.length;
      this.hooks.push(interceptor.link(this.linkAt(at)));
    }
  }

  get isEmpty(): boolean {
    return this.hooks.length === 0;
  }

  get hookCount(): number {
    return this.hooks.length;
  }

  /** Messages below this size pass no send hook: callers may write them straight to the socket. */
  get minBytes(): number {
    let min = Infinity;
    for (const h of this.hooks) if (h.send) min = Math.min(min, h.minBytes ?? 0);
    return min;
  }

  /** Bytes the hooks hold to send later. */
  get queuedBytes(): number {
    let n = 0;
    for (const h of this.hooks) n += h.queuedBytes ?? 0;
    return n;
  }

  send(piece: Piece | Parts): void {
    this.sendFrom(0, piece);
  }

  receive(message: unknown): void {
    this.receiveFrom(this.hooks.length - 1, message);
  }

  close(): void {
    for (const h of this.hooks) h.close?.();
  }

  private sendFrom(i: number, piece: Piece | Parts): void {
    for (; i < this.hooks.length; i++) {
      const h = this.hooks[i];
      if (h.send && piece.length >= (h.minBytes ?? 0)) {
        h.send(piece);
        return;
      }
    }
    this.ends.toSocket(piece);
  }

  private receiveFrom(i: number, message: unknown): void {
    for (; i >= 0; i--) {
      const h = this.hooks[i];
      if (h.receive) {
        h.receive(message);
        return;
      }
    }
    this.ends.toApp(message);
  }

  private linkAt(i: number): Link {
    return new ChainLink(this, i);
  }

  /** For ChainLink: what comes after hook `i` on the way to the socket. */
  sendAfter(i: number, piece: Piece | Parts): void {
    this.sendFrom(i + 1, piece);
  }

  /** For ChainLink: what comes after hook `i` on the way to the application. */
  receiveAfter(i: number, message: unknown): void {
    this.receiveFrom(i - 1, message);
  }
}

/**
 * One hook's view of the chain. A class, not an object literal with getters and closures: a
 * broker keeps one per connection, and the literal took some 1.3 KB (a dictionary of
 * properties and seven closures) where this takes a few dozen bytes.
 */
class ChainLink implements Link {
  constructor(private readonly chain: MessageChain, private readonly at: number) {}

  get side(): 'client' | 'broker' { return this.chain.ends.side; }
  get connectionId(): string { return this.chain.ends.connectionId; }
  get codec(): Codec { return this.chain.ends.codec; }
  get maxMessageBytes(): number { return this.chain.ends.maxMessageBytes; }
  get remoteAddress(): string | undefined { return this.chain.ends.remoteAddress; }
  get pendingBytes(): number { return this.chain.ends.pendingBytes(); }
  get peerMaxFrameBytes(): number { return this.chain.ends.peerMaxFrameBytes(); }
  send(piece: Piece | Parts): void { this.chain.sendAfter(this.at, piece); }
  receive(message: unknown): void { this.chain.receiveAfter(this.at, message); }
  fail(err: LindenError): void { this.chain.ends.fail(err); }
  peerExt(name: string): Record<string, unknown> | undefined { return this.chain.ends.peerExt(name); }
  whenDrained(fn: () => void): void { this.chain.ends.whenDrained(fn); }
  get takesStreams(): boolean { return this.chain.hookCount === 1 && this.chain.ends.takesStreams?.() === true; }
}
