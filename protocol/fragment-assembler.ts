import type { Codec } from './codec.js';
import { LindenError, type ErrorCode } from './errors.js';
import { isUint, MAX_UINT } from './limits.js';
import { utf8Length } from './frame-writer.js';
import { ReassemblyBytes } from './reassembly-bytes.js';
import { ByteStream, StreamedBytes } from './byte-stream.js';
import { readStreamHead } from './stream-head.js';

export interface AssemblyLimits {
  /** Largest reassembled message, in bytes. */
  maxBytes: number;
  /** Messages being reassembled at once on one connection. */
  maxAssemblies: number;
  /** Time from a message's first fragment to its last. */
  timeoutMs: number;
  /** Bytes of partial messages this connection may hold at once. Default: two largest messages. */
  maxHeldBytes?: number;
  /** Shared by every connection of one side: bounds what they hold together, and per address. */
  budget?: ReassemblyBudget;
  /** The peer's address, for the budget's per-address cap; undefined where there is none to tell (the client). */
  address?: string;
  /**
   * Whether a `pub` whose payload comes last may be handed on at its first fragment, its payload
   * a ByteStream that grows as the rest arrive (the broker with no other interceptor; issue 14).
   */
  streamsPublishes?: () => boolean;
}

/** Who a byte cap of reassembly applies to, as FRAGMENT_LIMIT's `details.scope` names it. */
export type HoldScope = 'connection' | 'address' | 'all';

/**
 * Bytes held for reassembly by all connections of one side: against one limit in all, and one
 * per peer address, so that neither one client nor one host can take what the others need.
 */
export class ReassemblyBudget {
  held = 0;
  private readonly byAddress = new Map<string, number>();

  constructor(readonly limit: number, readonly perAddress = limit) {}

  heldBy(address: string): number {
    return this.byAddress.get(address) ?? 0;
  }

  /** Takes `bytes`, or returns the scope whose cap they would cross and takes nothing. */
  take(address: string | undefined, bytes: number): HoldScope | undefined {
    if (bytes === 0) return undefined; // an empty slice must not leave an address entry behind
    const byAddress = address === undefined ? 0 : this.heldBy(address) + bytes;
    if (byAddress > this.perAddress) return 'address';
    if (this.held + bytes > this.limit) return 'all';
    this.held += bytes;
    if (address !== undefined) this.byAddress.set(address, byAddress);
    return undefined;
  }

  release(address: string | undefined, bytes: number): void {
    if (bytes === 0) return;
    this.held -= bytes;
    if (address === undefined) return;
    const left = this.heldBy(address) - bytes;
    if (left > 0) this.byAddress.set(address, left);
    else this.byAddress.delete(address);
  }

  /** Addresses holding bytes now (each has an entry only while it does). */
  get addresses(): number {
    return this.byAddress.size;
  }
}

/** A `frag` message as it arrived, before its fields are checked. */
interface FragFields { fid?: unknown; seq?: unknown; n?: unknown; size?: unknown; data?: unknown; abort?: unknown }

interface Assembly {
  n: number;
  size: number;
  next: number;
  /** Bytes received so far: what the message holds of every cap. */
  got: number;
  /** MessagePack: the bytes so far (memory follows what arrived, not the `size` announced). */
  bytes: ReassemblyBytes | undefined;
  text: string[] | undefined;
  /** A `pub` handed on at its first fragment: its payload's bytes go here, from `from` in the message. */
  stream: ByteStream | undefined;
  from: number;
  timer: ReturnType<typeof setTimeout>;
}

const REMEMBERED_DISCARDS = 256;
/** Default of maxHeldBytes: largest messages' worth of bytes one connection may hold in reassembly. */
const HELD_MESSAGES = 2;

/**
 * Puts fragmented messages of one connection back together (protocol.md §2.3). A fault in a
 * fragment discards its whole message at once, frees its memory and is reported; the later
 * fragments of that message are then dropped quietly, so one fault gives one error.
 */
export class FragmentAssembler {
  private readonly open = new Map<number, Assembly>();
  private readonly discarded = new Set<number>();
  /** Bytes received of the messages being reassembled. */
  private held = 0;
  private readonly maxHeldBytes: number;

  constructor(
    private readonly codec: Codec,
    private readonly limits: AssemblyLimits,
    private readonly deliver: (message: unknown) => void,
    private readonly fail: (err: LindenError) => void,
  ) {
    this.maxHeldBytes = limits.maxHeldBytes ?? HELD_MESSAGES * limits.maxBytes;
  }

  /** Messages being reassembled now. */
  get pending(): number {
    return this.open.size;
  }

  /** Bytes this connection holds in partial messages now. */
  get heldBytes(): number {
    return this.held;
  }

  add(f: FragFields): void {
    const { fid, seq, n } = f;
    // As the schema of `frag` (frames.ts) would say: details name the field, never quote its value.
    if (!isUint(fid)) {
      this.fail(new LindenError('INVALID_FRAME', `invalid "frag" message: field "fid" must be an integer from 0 to ${MAX_UINT}`, { t: 'frag', field: 'fid' }));
      return;
    }
    if (f.abort === true) {
      this.abandon(fid);
      return;
    }
    if (!isUint(seq) || !isUint(n) || n < 1) {
      const field = isUint(seq) ? 'n' : 'seq';
      this.reject(fid, 'INVALID_FRAME', `invalid "frag" message: field "${field}" must be an integer from ${field === 'n' ? 1 : 0} to ${MAX_UINT}`, { t: 'frag', field });
      return;
    }
    const binary = this.codec.name === 'msgpack';
    if (binary ? !(f.data instanceof Uint8Array) : typeof f.data !== 'string') {
      this.reject(fid, 'INVALID_FRAME', `invalid "frag" message: field "data" must be ${binary ? 'bin' : 'a string'}`, { t: 'frag', field: 'data' });
      return;
    }
    let a = this.open.get(fid);
    if (!a) {
      if (seq !== 0 && this.discarded.has(fid)) {
        if (seq === n - 1) this.discarded.delete(fid);
        return;
      }
      a = this.start(fid, seq, n, f.size);
      if (!a) return;
    }
    if (n !== a.n || seq >= n) {
      this.reject(fid, 'FRAGMENT_TOTAL_MISMATCH', `fragment ${seq} of message ${fid} says n=${n}; its first said n=${a.n}`, { seq, n, expected: a.n });
      return;
    }
    if (seq < a.next) {
      this.reject(fid, 'FRAGMENT_DUPLICATE', `fragment ${seq} of message ${fid} arrived twice`, { seq });
      return;
    }
    if (seq > a.next) {
      this.reject(fid, 'FRAGMENT_OUT_OF_ORDER', `fragment ${seq} of message ${fid} arrived before fragment ${a.next}`, { seq, expected: a.next });
      return;
    }
    const pub = a.next === 0 && a.n > 1 ? this.streamFrom(a, f.data as Uint8Array | string) : undefined;
    if (!this.append(fid, a, f.data as Uint8Array | string)) return;
    if (pub) this.deliver(pub);
    a.next++;
    if (a.next < a.n) return;
    this.finish(fid, a);
  }

  /** Drops every partial message (the connection is gone). */
  clear(): void {
    for (const [fid, a] of this.open) {
      this.forget(fid, a);
      a.stream?.abort(new LindenError('DISCONNECTED', `message ${fid} was not complete when its connection ended`, { fid }));
    }
    this.discarded.clear();
  }

  private start(fid: number, seq: number, n: number, size: unknown): Assembly | undefined {
    this.discarded.delete(fid);
    if (seq !== 0) {
      this.reject(fid, 'FRAGMENT_OUT_OF_ORDER', `fragment ${seq} of message ${fid} arrived without its first fragment`, { seq, expected: 0 });
      return undefined;
    }
    if (!isUint(size)) {
      this.reject(fid, 'INVALID_FRAME', `invalid "frag" message: the first fragment needs field "size", an integer from 0 to ${MAX_UINT}`, { t: 'frag', field: 'size' });
      return undefined;
    }
    if (size > this.limits.maxBytes) {
      this.reject(fid, 'MESSAGE_TOO_LARGE', `a fragmented message of ${size} bytes exceeds the limit of ${this.limits.maxBytes}`, { bytes: size, limit: this.limits.maxBytes });
      return undefined;
    }
    if (this.open.size >= this.limits.maxAssemblies) {
      this.reject(fid, 'FRAGMENT_LIMIT', `${this.open.size} fragmented messages are already being reassembled on this connection`, { limit: this.limits.maxAssemblies });
      return undefined;
    }
    // Nothing is taken from `size` (a promise costs the sender nothing): bytes count as they
    // arrive. A message that could never fit is refused now rather than at its last fragment.
    const cap = this.capBelow(size);
    if (cap) {
      this.reject(fid, 'FRAGMENT_LIMIT', `a fragmented message of ${size} bytes is more than ${holderOf(cap.scope)} may hold in reassembly (${cap.limit} bytes)`, { size, ...cap });
      return undefined;
    }
    const a: Assembly = {
      n, size, next: 0, got: 0,
      bytes: this.codec.name === 'msgpack' ? new ReassemblyBytes(size) : undefined,
      text: this.codec.name === 'msgpack' ? undefined : [],
      stream: undefined,
      from: 0,
      timer: setTimeout(() => {
        this.reject(fid, 'FRAGMENT_TIMEOUT', `message ${fid} was not complete within ${this.limits.timeoutMs} ms (${a.next} of ${n} fragments)`, { received: a.next, n });
      }, this.limits.timeoutMs),
    };
    (a.timer as { unref?: () => void }).unref?.();
    this.open.set(fid, a);
    return a;
  }

  private append(fid: number, a: Assembly, data: Uint8Array | string): boolean {
    const length = typeof data === 'string' ? utf8Length(data) : data.length;
    if (a.got + length > a.size) {
      this.reject(fid, 'FRAGMENT_TOTAL_MISMATCH', `message ${fid} has more than the ${a.size} bytes its first fragment announced`, { size: a.size });
      return false;
    }
    const over = this.hold(length);
    if (over) {
      const held = over.scope === 'connection' ? this.held : over.scope === 'address' ? this.limits.budget!.heldBy(this.limits.address!) : this.limits.budget!.held;
      this.reject(fid, 'FRAGMENT_LIMIT', `fragment ${a.next} of message ${fid} would take ${holderOf(over.scope)} over ${over.limit} bytes held in reassembly`, { seq: a.next, held, ...over });
      return false;
    }
    if (a.stream) a.stream.append(a.next === 0 ? (data as Uint8Array).subarray(a.from) : data as Uint8Array);
    else if (a.bytes) a.bytes.append(data as Uint8Array);
    else a.text!.push(data as string);
    a.got += length;
    return true;
  }

  /** Takes `bytes` from every cap, or names the first they would cross and takes nothing. */
  private hold(bytes: number): { scope: HoldScope; limit: number } | undefined {
    if (this.held + bytes > this.maxHeldBytes) return { scope: 'connection', limit: this.maxHeldBytes };
    const { budget, address } = this.limits;
    const scope = budget?.take(address, bytes);
    if (scope) return { scope, limit: scope === 'address' ? budget!.perAddress : budget!.limit };
    this.held += bytes;
    return undefined;
  }

  /** A cap that `size` alone is over, if any: such a message could never complete. */
  private capBelow(size: number): { scope: HoldScope; limit: number } | undefined {
    if (size > this.maxHeldBytes) return { scope: 'connection', limit: this.maxHeldBytes };
    const { budget, address } = this.limits;
    if (!budget) return undefined;
    if (address !== undefined && size > budget.perAddress) return { scope: 'address', limit: budget.perAddress };
    if (size > budget.limit) return { scope: 'all', limit: budget.limit };
    return undefined;
  }

  /**
   * At the first fragment: a `pub` whose payload comes last goes on once that fragment is taken,
   * the payload a stream fed by the fragments still to come; what the first one holds beyond the
   * fields is its start. Returns that `pub`, or undefined for a message to put back together.
   */
  private streamFrom(a: Assembly, data: Uint8Array | string): Record<string, unknown> | undefined {
    if (typeof data === 'string' || !this.limits.streamsPublishes?.()) return undefined;
    const head = readStreamHead(data, this.codec);
    if (!head || head.fields.t !== 'pub' || head.dataOffset + head.dataLength !== a.size) return undefined;
    const stream = new ByteStream(head.dataLength);
    a.stream = stream;
    a.from = head.dataOffset;
    a.bytes = undefined;
    return { ...head.fields, data: new StreamedBytes(stream) };
  }

  private finish(fid: number, a: Assembly): void {
    this.forget(fid, a);
    if (a.got !== a.size) {
      this.reject(fid, 'FRAGMENT_TOTAL_MISMATCH', `message ${fid} ended with ${a.got} of the ${a.size} bytes announced`, { size: a.size, received: a.got });
      return;
    }
    if (a.stream) {
      a.stream.finish();
      return;
    }
    let messages: unknown[];
    try {
      messages = a.bytes ? this.codec.decode(a.bytes.join(), true) : this.codec.decode(a.text!.join(''), false);
    } catch (err) {
      const e = err instanceof LindenError ? err : new LindenError('DECODE_ERROR', String(err));
      this.fail(new LindenError(e.code, e.message, { ...e.details, fid }));
      return;
    }
    for (const m of messages) {
      if ((m as { t?: unknown } | null)?.t === 'frag') {
        this.fail(new LindenError('INVALID_FRAME', 'a reassembled message cannot itself be a fragment', { fid }));
        continue;
      }
      this.deliver(m);
    }
  }

  private reject(fid: number, code: ErrorCode, message: string, details: Record<string, unknown> = {}): void {
    const a = this.open.get(fid);
    if (a) this.forget(fid, a);
    this.discarded.add(fid);
    if (this.discarded.size > REMEMBERED_DISCARDS) this.discarded.delete(this.discarded.values().next().value!);
    const err = new LindenError(code, message, { fid, ...details });
    a?.stream?.abort(err);
    this.fail(err);
  }

  /** The sender gave the message up (`abort`): dropped without an error, as it asked. */
  private abandon(fid: number): void {
    const a = this.open.get(fid);
    if (!a) return;
    this.forget(fid, a);
    a.stream?.abort(new LindenError('FRAGMENT_TOTAL_MISMATCH', `message ${fid} was abandoned by its sender with ${a.got} of ${a.size} bytes sent`, { fid, size: a.size, received: a.got }));
  }

  private forget(fid: number, a: Assembly): void {
    clearTimeout(a.timer);
    this.open.delete(fid);
    this.held -= a.got;
    this.limits.budget?.release(this.limits.address, a.got);
  }
}

function holderOf(scope: HoldScope): string {
  return scope === 'connection' ? 'this connection' : scope === 'address' ? 'the connections of this address' : 'all connections';
}
