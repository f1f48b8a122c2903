import { Parts } from './codec.js';
import type { LindenError } from './errors.js';
import { ReassemblyBytes } from './reassembly-bytes.js';

interface Chunk {
  readonly bytes: Uint8Array;
  next: Chunk | undefined;
}

/**
 * The payload of a large `pub` while its fragments are still arriving (issue 14): the broker
 * routes the message at its first fragment and forwards each slice as it comes, so it never
 * holds the whole message. Slices form a singly linked list; each reader holds only its place
 * in it, so a slice every reader has passed is garbage at once.
 *
 * Until the publish decides what to do with it (readers attached, or collect() for a message
 * that must be handled whole), the stream keeps every slice from the first.
 */
export class ByteStream {
  /** Bytes received so far. */
  received = 0;
  private first: Chunk | undefined = { bytes: EMPTY, next: undefined };
  private last: Chunk = this.first!;
  private wakers: Array<() => void> = [];
  private collected: { bytes: ReassemblyBytes; then: (bytes: Uint8Array) => void } | undefined;
  /** Set once the last slice came; `failed` once the message was discarded instead. */
  complete = false;
  failed: LindenError | undefined;
  private readonly ended: Array<(err: LindenError | undefined) => void> = [];
  /** Readers still reading: the slowest of them decides how far behind the input the output is. */
  private readonly readers = new Set<StreamReader>();
  private throttle: Throttle | undefined;

  constructor(readonly length: number) {}

  /**
   * Keeps the input at most `window` bytes ahead of the slowest reader: `pause` when it gets
   * further, `resume` once it is back within half of that (or the stream ends), or after
   * `graceMs` without the others (excuseLaggards). Without it a receiver slower than the
   * publisher would make the broker hold the message after all.
   */
  throttleInput(window: number, graceMs: number, pause: () => void, resume: () => void): void {
    this.throttle = { window, graceMs, pause, resume, paused: false, timer: undefined };
    this.judge();
  }

  /** Bytes received that some reader has not read yet. */
  get lag(): number {
    let slowest = this.received;
    for (const r of this.readers) slowest = Math.min(slowest, r.pos);
    return this.received - slowest;
  }

  get open(): boolean {
    return !this.complete && this.failed === undefined;
  }

  append(bytes: Uint8Array): void {
    if (!this.open || bytes.length === 0) return;
    this.received += bytes.length;
    if (this.collected) {
      this.collected.bytes.append(bytes);
      return;
    }
    const chunk: Chunk = { bytes, next: undefined };
    this.last.next = chunk;
    this.last = chunk;
    this.wake();
    this.judge();
  }

  /** Pauses or resumes the input by the slowest reader (throttleInput). */
  judge(): void {
    const t = this.throttle;
    if (!t) return;
    if (!t.paused) {
      if (!this.open || this.lag <= t.window) return;
      t.paused = true;
      // One timer per paused message, not per message: it is how a receiver that stopped
      // reading loses its hold on the publisher.
      t.timer = setTimeout(() => this.excuseLaggards(), t.graceMs);
      (t.timer as { unref?: () => void }).unref?.();
      t.pause();
    } else if (!this.open || this.lag <= t.window / 2) {
      t.paused = false;
      clearTimeout(t.timer);
      t.timer = undefined;
      t.resume();
    }
  }

  /**
   * Still paused after the grace: the readers holding it back stop counting, and the input goes
   * on for the others. Each still gets the whole message, at its own pace, with the slices it
   * has not read held for it: a receiver that takes nothing is then a slow consumer like any
   * other (protocol.md §11), and never holds a publisher up for longer than this.
   */
  private excuseLaggards(): void {
    const t = this.throttle!;
    t.timer = undefined;
    if (!t.paused) return;
    for (const r of this.readers) if (this.received - r.pos > t.window / 2) this.readers.delete(r);
    this.judge();
  }

  /** A reader that will read no more (its receiver gone, or all read). */
  release(reader: StreamReader): void {
    if (this.readers.delete(reader)) this.judge();
  }

  /** All `length` bytes arrived. */
  finish(): void {
    if (!this.open) return;
    this.complete = true;
    const collected = this.collected;
    this.collected = undefined;
    this.wake();
    this.judge();
    this.end(undefined);
    collected?.then(collected.bytes.join());
  }

  /** The message was discarded (a fragment fault, the publisher gone): readers stop where they are. */
  abort(err: LindenError): void {
    if (!this.open) return;
    this.failed = err;
    this.collected = undefined;
    this.first = undefined;
    this.wake();
    this.judge();
    this.end(err);
  }

  /** A reader from the first byte; only before seal(). */
  reader(): StreamReader {
    if (!this.first) throw new Error('ByteStream: reader() after seal()');
    const reader = new StreamReader(this, this.first);
    this.readers.add(reader);
    return reader;
  }

  /** No more readers will come: slices the existing ones have passed may go. */
  seal(): void {
    this.first = undefined;
  }

  /** The message must be handled whole after all: `then` gets its bytes once the last slice came. */
  collect(then: (bytes: Uint8Array) => void): void {
    if (!this.first || this.collected) throw new Error('ByteStream: collect() after seal()');
    const bytes = this.takeKept();
    if (this.complete) then(bytes.join());
    if (!this.open) return;
    this.last = { bytes: EMPTY, next: undefined };
    this.collected = { bytes, then };
  }

  /** Calls `fn` once when another slice arrives or the stream ends. */
  whenMore(fn: () => void): void {
    if (!this.open) queueMicrotask(fn);
    else this.wakers.push(fn);
  }

  /** Calls `fn` once the stream ends: with no error when complete. */
  onEnd(fn: (err: LindenError | undefined) => void): void {
    if (this.open) this.ended.push(fn);
    else fn(this.failed);
  }

  /** Every slice kept so far, in one growing buffer; the stream keeps them no more. */
  private takeKept(): ReassemblyBytes {
    const bytes = new ReassemblyBytes(this.length);
    for (let c = this.first!.next; c; c = c.next) bytes.append(c.bytes);
    this.first = undefined;
    return bytes;
  }

  private wake(): void {
    if (this.wakers.length === 0) return;
    const wakers = this.wakers;
    this.wakers = [];
    for (const fn of wakers) fn();
  }

  private end(err: LindenError | undefined): void {
    for (const fn of this.ended.splice(0)) fn(err);
  }
}

interface Throttle {
  window: number;
  graceMs: number;
  pause: () => void;
  resume: () => void;
  paused: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** One receiver's place in a ByteStream; reads move forward only. */
export class StreamReader {
  /** Stream offset where `chunk`'s bytes begin. */
  private at = 0;
  /** How far it has read. */
  pos = 0;

  constructor(readonly stream: ByteStream, private chunk: Chunk) {}

  /** Bytes [from, to) of the stream, as the slices they lie in; `to` must have arrived, `from` not be behind an earlier read. */
  read(from: number, to: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    let c: Chunk | undefined = this.chunk;
    let at = this.at;
    while (c && at + c.bytes.length <= from) {
      at += c.bytes.length;
      c = c.next;
    }
    // Keep the place: the next read starts in this chunk or a later one.
    if (c) {
      this.chunk = c;
      this.at = at;
    }
    while (c && at < to) {
      const start = Math.max(from, at) - at;
      const end = Math.min(to, at + c.bytes.length) - at;
      if (end > start) out.push(c.bytes.subarray(start, end));
      at += c.bytes.length;
      c = c.next;
    }
    if (to > this.pos) {
      this.pos = to;
      this.stream.judge();
    }
    return out;
  }
}

/** A stream's bytes behind a fixed head (and before an optional tail), as one delivery sends them. */
export class StreamedParts extends Parts {
  override readonly length: number;

  constructor(readonly head: Uint8Array, readonly reader: StreamReader, readonly tail: Uint8Array = EMPTY) {
    super([head, tail]);
    this.length = head.length + reader.stream.length + tail.length;
  }

  get stream(): ByteStream {
    return this.reader.stream;
  }

  /** Bytes of the whole that can be read now. */
  get available(): number {
    const s = this.reader.stream;
    return this.head.length + s.received + (s.complete ? this.tail.length : 0);
  }

  /** Bytes [from, to) as pieces; every one of them must be available. */
  pieces(from: number, to: number): Uint8Array[] {
    const h = this.head.length;
    const s = this.reader.stream.length;
    const out: Uint8Array[] = [];
    if (from < h) out.push(this.head.subarray(from, Math.min(to, h)));
    if (to > h && from < h + s) out.push(...this.reader.read(Math.max(from, h) - h, Math.min(to, h + s) - h));
    if (to > h + s) out.push(this.tail.subarray(Math.max(from, h + s) - h - s, to - h - s));
    return out;
  }

  override slice(from: number, to: number): Uint8Array {
    return new Parts(this.pieces(from, to)).join();
  }
}

/**
 * What a `pub` carries in `data` while its payload is a ByteStream: empty bytes to everything
 * that only checks the field's type; the publish path looks for this class and takes the stream.
 */
export class StreamedBytes extends Uint8Array {
  // subarray() and friends make plain arrays, not another StreamedBytes around nothing.
  static get [Symbol.species](): Uint8ArrayConstructor {
    return Uint8Array;
  }

  constructor(readonly stream: ByteStream) {
    super(0);
  }
}

const EMPTY = new Uint8Array(0);
