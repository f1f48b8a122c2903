/**
 * One connection's inbound work waiting for its turn (DESIGN.md §5 "Fairness"): the frames in
 * arrival order, the messages of the frame being handled, and the messages the message-level
 * interceptors passed on (a reassembled fragmented message), which come before the rest of
 * that frame. Frames stay encoded until their turn, so a DECODE_ERROR keeps its place among
 * the answers (protocol.md §2 "In order").
 */
export class Inbox {
  private frames: { raw: Uint8Array; isBinary: boolean }[] = [];
  private messages: readonly unknown[] = NO_MESSAGES;
  private next = 0;
  private passed: unknown[] = [];
  private passedNext = 0;
  /** `err`s the messages of the current frame produced; capped per frame (protocol.md §12). */
  frameErrors = 0;
  /** The message being handed to the interceptor chain: passed straight through, it is handled at once. */
  inChain: unknown = undefined;
  /** A slice is running for this connection now. */
  running = false;
  /** Waiting in the round of turns (its socket is paused meanwhile). */
  queued = false;
  /**
   * Holds on the connection's inbound work: nothing more is handled while any is on (a `hello`
   * in asynchronous inbound hooks, dispatch.ts; a login under way, handlers/session.ts).
   */
  holds = 0;

  get held(): boolean {
    return this.holds > 0;
  }
  /** The turn `used` belongs to, and the units of work done in it. */
  turn = -1;
  used = 0;
  private whenEmptyFn: (() => void) | undefined;

  get hasWork(): boolean {
    return this.passedNext < this.passed.length || this.next < this.messages.length || this.frames.length > 0;
  }

  push(raw: Uint8Array, isBinary: boolean): void {
    this.frames.push({ raw, isBinary });
  }

  /** A message the interceptors passed on while handling the current frame: handled before the frame goes on. */
  pass(message: unknown): void {
    this.passed.push(message);
  }

  takePassed(): unknown {
    if (this.passedNext >= this.passed.length) return NONE;
    const m = this.passed[this.passedNext++];
    if (this.passedNext === this.passed.length) {
      this.passed = [];
      this.passedNext = 0;
    }
    return m;
  }

  takeMessage(): unknown {
    if (this.next >= this.messages.length) return NONE;
    const m = this.messages[this.next++];
    // A decoded frame is let go with its last message, not kept until the next frame comes.
    if (this.next === this.messages.length) {
      this.messages = NO_MESSAGES;
      this.next = 0;
    }
    return m;
  }

  takeFrame(): { raw: Uint8Array; isBinary: boolean } | undefined {
    return this.frames.shift();
  }

  /** The decoded messages of the frame taken last. */
  begin(messages: readonly unknown[]): void {
    this.messages = messages;
    this.next = 0;
    this.frameErrors = 0;
  }

  /** Drops what is left of the current frame; returns how many messages that was. */
  skipFrame(): number {
    const skipped = this.messages.length - this.next + this.passed.length - this.passedNext;
    this.messages = NO_MESSAGES;
    this.next = 0;
    this.passed = [];
    this.passedNext = 0;
    return skipped;
  }

  /** Calls `fn` once no work is left (at once if none is). */
  whenEmpty(fn: () => void): void {
    if (!this.hasWork && !this.held) fn();
    else this.whenEmptyFn = fn;
  }

  /** Called by the turns when a slice left nothing to do. */
  emptied(): void {
    const fn = this.whenEmptyFn;
    this.whenEmptyFn = undefined;
    fn?.();
  }

  clear(): void {
    this.frames = [];
    this.skipFrame();
    this.whenEmptyFn = undefined;
  }
}

/** A frame without messages left, shared (an idle connection allocates nothing here). */
const NO_MESSAGES: readonly unknown[] = [];

/** What take*() return when there is nothing (undefined is not free: a frame may hold it as a message). */
export const NONE: unique symbol = Symbol('none');

/** The id a reply to `message` should name in `re`, even when the message around it is invalid (protocol.md §2.1). */
export function requestIdOf(message: unknown): number | undefined {
  const id = (message as { id?: unknown } | null | undefined)?.id;
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 ? id : undefined;
}
