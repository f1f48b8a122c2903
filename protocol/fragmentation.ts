import type { Parts, Piece } from './codec.js';
import { LindenError } from './errors.js';
import { FragmentAssembler, ReassemblyBudget } from './fragment-assembler.js';
import { FragmentSender } from './fragment-sender.js';
import { StreamedParts } from './byte-stream.js';
import type { Interceptor, Link, LinkHooks } from './interceptor.js';
import { MAX_DURATION_MS } from './limits.js';

export interface FragmentationOptions {
  /** Largest fragment this side sends, in bytes; the smaller of both sides' sizes is used. Default 256 KiB. */
  fragmentSize?: number;
  /** Largest message this side reassembles. Default: the side's maxMessageBytes plus 64 KiB for the fields around the payload. */
  maxMessageBytes?: number;
  /** Messages reassembled at once per connection. Default 8. */
  maxAssemblies?: number;
  /** Time from a message's first fragment to its last. Default 60,000 ms. */
  assemblyTimeoutMs?: number;
  /** No new fragment is queued while the connection has this many bytes waiting to leave. Default 1 MiB. */
  highWaterBytes?: number;
  /**
   * Bytes of messages being reassembled that all connections of this side may hold together,
   * counted as fragments arrive (not from the `size` a first fragment announces). Default 512 MiB.
   */
  maxReassemblyBytes?: number;
  /** Of those, what the connections from one peer address may hold together (broker side). Default half of maxReassemblyBytes. */
  maxReassemblyBytesPerAddress?: number;
  /** Of those, what one connection may hold. Default two largest messages: 2 × maxMessageBytes above. */
  maxReassemblyBytesPerConnection?: number;
}

export const FRAGMENTATION = 'fragmentation';
export const DEFAULT_FRAGMENT_SIZE = 256 * 1024;
const MIN_FRAGMENT_SIZE = 1024;
/** Room for the fields of a `frag` message around its data. */
const FRAG_OVERHEAD = 128;
const FIELDS_MARGIN = 64 * 1024;
const DEFAULT_REASSEMBLY_BYTES = 512 * 1024 * 1024;

/**
 * The built-in message-level interceptor that carries messages larger than the negotiated
 * fragment size as `frag` messages (protocol.md §2.3). Both sides announce it in the handshake;
 * towards a peer that did not, messages go whole.
 */
export function fragmentation(options: FragmentationOptions = {}): Interceptor {
  const timeout = options.assemblyTimeoutMs;
  // It becomes a timer, and a timer of 2^31 ms or more would fire after 1 ms.
  if (timeout !== undefined && !(Number.isInteger(timeout) && timeout >= 1 && timeout <= MAX_DURATION_MS)) {
    throw new LindenError('INVALID_OPTIONS', `fragmentation option "assemblyTimeoutMs" must be an integer from 1 to ${MAX_DURATION_MS}`);
  }
  const fragmentSize = Math.max(MIN_FRAGMENT_SIZE, options.fragmentSize ?? DEFAULT_FRAGMENT_SIZE);
  // One budget per interceptor: on a broker, all its connections share it.
  const total = options.maxReassemblyBytes ?? DEFAULT_REASSEMBLY_BYTES;
  const budget = new ReassemblyBudget(total, options.maxReassemblyBytesPerAddress ?? Math.floor(total / 2));
  return {
    name: FRAGMENTATION,
    // A peer that cuts fragments at the announced size must never exceed this side's frame limit.
    announce: ({ maxFrameBytes }) => ({ size: maxFrameBytes ? Math.min(fragmentSize, maxFrameBytes - FRAG_OVERHEAD) : fragmentSize }),
    link: (link) => new FragmentLink(link, fragmentSize, options, budget),
  };
}

/**
 * One connection's fragmentation. Its sender and assembler are made when first needed: most
 * connections never see a message over the fragment size, and a broker keeps thousands of
 * idle ones (issue 14).
 */
class FragmentLink implements LinkHooks {
  private sender: FragmentSender | undefined;
  private assembler: FragmentAssembler | undefined;
  /** After close() a large message is dropped, as a closed sender drops it. */
  private closed = false;

  constructor(
    private readonly link: Link,
    private readonly ownSize: number,
    private readonly options: FragmentationOptions,
    private readonly budget: ReassemblyBudget,
  ) {}

  private makeAssembler(): FragmentAssembler {
    const { link, options } = this;
    return new FragmentAssembler(link.codec, {
      maxBytes: options.maxMessageBytes ?? link.maxMessageBytes + FIELDS_MARGIN,
      maxAssemblies: options.maxAssemblies ?? 8,
      timeoutMs: options.assemblyTimeoutMs ?? 60_000,
      maxHeldBytes: options.maxReassemblyBytesPerConnection,
      budget: this.budget,
      address: link.remoteAddress,
      streamsPublishes: () => link.takesStreams === true,
    }, (m) => link.receive(m), (err) => link.fail(err));
  }

  /** The fragment size both sides accept; 0 while the peer has not announced fragmentation. */
  private get size(): number {
    const peer = this.link.peerExt(FRAGMENTATION);
    const peerSize = typeof peer?.size === 'number' && peer.size >= MIN_FRAGMENT_SIZE ? peer.size : 0;
    if (peerSize === 0) return 0;
    return Math.min(this.ownSize, peerSize, this.link.peerMaxFrameBytes - FRAG_OVERHEAD);
  }

  get queuedBytes(): number {
    return this.sender ? this.sender.queuedBytes : 0;
  }

  get minBytes(): number {
    const size = this.size;
    return size === 0 ? Infinity : size + 1;
  }

  send(piece: Piece | Parts): void {
    const size = this.size;
    // A message still arriving can only leave as fragments, one or many.
    if (piece instanceof StreamedParts) {
      if (!this.closed) (this.sender ??= new FragmentSender(this.link, this.options.highWaterBytes ?? 1024 * 1024)).send(piece, size || this.ownSize);
    } else if (size === 0 || piece.length <= size) this.link.send(piece);
    else if (!this.closed) (this.sender ??= new FragmentSender(this.link, this.options.highWaterBytes ?? 1024 * 1024)).send(piece, size);
  }

  receive(message: unknown): void {
    if ((message as { t?: unknown } | null)?.t === 'frag') (this.assembler ??= this.makeAssembler()).add(message as object);
    else this.link.receive(message);
  }

  close(): void {
    this.sender?.close();
    this.assembler?.clear();
    this.closed = true;
  }
}
