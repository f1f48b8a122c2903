import type { Codec } from './codec.js';
import { LindenError, type ErrorCode } from './errors.js';
import { MAX_UINT } from './limits.js';
import { utf8Length } from './frame-writer.js';

export interface AssemblyLimits {
  /** Largest reassembled message, in bytes. */
  maxBytes: number;
  /** Messages being reassembled at once on one connection. */
  maxAssemblies: number;
  /** Time from a message's first fragment to its last. */
  timeoutMs: number;
  /** Shared by every connection of one side: bounds what they reserve together. */
  budget?: ReassemblyBudget;
}

/** Bytes reserved for reassembly by all connections of one side, against one limit. */
export class ReassemblyBudget {
  reserved = 0;

  constructor(readonly limit: number) {}
}

/** A `frag` message as it arrived, before its fields are checked. */
interface FragFields { fid?: unknown; seq?: unknown; n?: unknown; size?: unknown; data?: unknown }

interface Assembly {
  n: number;
  size: number;
  next: number;
  got: number;
  bytes: Uint8Array | undefined;
  text: string[] | undefined;
  timer: ReturnType<typeof setTimeout>;
}

const REMEMBERED_DISCARDS = 256;
/** Largest messages' worth of bytes one connection may have in reassembly at once. */
const RESERVABLE_MESSAGES = 2;

/**
 * Puts fragmented messages of one connection back together (protocol.md §2.3). A fault in a
 * fragment discards its whole message at once, frees its memory and is reported; the later
 * fragments of that message are then dropped quietly, so one fault gives one error.
 */
export class FragmentAssembler {
  private readonly open = new Map<number, Assembly>();
  private readonly discarded = new Set<number>();
  /** Bytes reserved by the messages being reassembled. */
  private reserved = 0;

  constructor(
    private readonly codec: Codec,
    private readonly limits: AssemblyLimits,
    private readonly deliver: (message: unknown) => void,
    private readonly fail: (err: LindenError) => void,
  ) {}

  /** Messages being reassembled now. */
  get pending(): number {
    return this.open.size;
  }

  add(f: FragFields): void {
    const { fid, seq, n } = f;
    // As the schema of `frag` (frames.ts) would say: details name the field, never quote its value.
    if (!isUint(fid)) {
      this.fail(new LindenError('INVALID_FRAME', `invalid "frag" message: field "fid" must be an integer from 0 to ${MAX_UINT}`, { t: 'frag', field: 'fid' }));
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
    if (!this.append(fid, a, f.data as Uint8Array | string)) return;
    a.next++;
    if (a.next < a.n) return;
    this.finish(fid, a);
  }

  /** Drops every partial message (the connection is gone). */
  clear(): void {
    for (const [fid, a] of this.open) this.forget(fid, a);
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
    // Space is reserved at fragment 0, so tiny first fragments must not reserve without end.
    if (this.reserved + size > RESERVABLE_MESSAGES * this.limits.maxBytes) {
      this.reject(fid, 'FRAGMENT_LIMIT', `messages being reassembled on this connection would take more than ${RESERVABLE_MESSAGES * this.limits.maxBytes} bytes`, { limit: this.limits.maxAssemblies, bytes: this.reserved + size });
      return undefined;
    }
    const { budget } = this.limits;
    if (budget && budget.reserved + size > budget.limit) {
      this.reject(fid, 'FRAGMENT_LIMIT', `messages being reassembled on all connections would take more than ${budget.limit} bytes`, { bytes: size, reserved: budget.reserved });
      return undefined;
    }
    this.reserved += size;
    if (budget) budget.reserved += size;
    const a: Assembly = {
      n, size, next: 0, got: 0,
      bytes: this.codec.name === 'msgpack' ? new Uint8Array(size) : undefined,
      text: this.codec.name === 'msgpack' ? undefined : [],
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
    if (a.bytes) a.bytes.set(data as Uint8Array, a.got);
    else a.text!.push(data as string);
    a.got += length;
    return true;
  }

  private finish(fid: number, a: Assembly): void {
    this.forget(fid, a);
    if (a.got !== a.size) {
      this.reject(fid, 'FRAGMENT_TOTAL_MISMATCH', `message ${fid} ended with ${a.got} of the ${a.size} bytes announced`, { size: a.size, received: a.got });
      return;
    }
    let messages: unknown[];
    try {
      messages = a.bytes ? this.codec.decode(a.bytes, true) : this.codec.decode(a.text!.join(''), false);
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
    this.fail(new LindenError(code, message, { fid, ...details }));
  }

  private forget(fid: number, a: Assembly): void {
    clearTimeout(a.timer);
    this.open.delete(fid);
    this.reserved -= a.size;
    if (this.limits.budget) this.limits.budget.reserved -= a.size;
  }
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_UINT;
}
