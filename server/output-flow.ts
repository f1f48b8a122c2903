import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/** Outbound bytes under which a paced sender (fragments) may go on at once rather than wait for the socket's drain. */
const DRAINED_BYTES = 256 * 1024;

/** Reasons a socket is not read from, as bits of OutputFlow's pauses. */
const PAUSE = { turn: 1, output: 2, stream: 4 } as const;
export type PauseReason = keyof typeof PAUSE;

/** What the flow reads of its connection. */
export interface FlowSide {
  readonly ws: WebSocket;
  readonly closed: boolean;
  /** Messages encoded but not yet handed to the socket. */
  readonly queuedMessages: number;
  /** Outbound bytes already encoded for the socket. */
  readonly wireBytes: number;
  readonly maxPendingBytes: number;
  /** Asks for a flush at the end of the turn. */
  schedule(): void;
  /** Counts one pause for output (stats). */
  pausedForOutput(): void;
}

/**
 * One connection's output flow: who waits for its output to leave, and why its socket is not
 * read from. A client that sends faster than it reads is paused until its output drains, so
 * TCP pushes back on it instead of the broker buffering without end (protocol.md §11); senders
 * held back by a congested receiver wait for its socket without polling.
 */
export class OutputFlow {
  private drainWaiters: (() => void)[] = [];
  private writableWaiters: (() => void)[] = [];
  private socketWaiters: (() => void)[] = [];
  /** Why the socket is not read from now (PAUSE bits); it is read again once no reason is left. */
  private pauses = 0;

  constructor(private readonly side: FlowSide) {}

  get socket(): Socket | undefined {
    return (this.side.ws as unknown as { _socket?: Socket })._socket;
  }

  /** Calls `fn` once what is queued for this connection has mostly reached the kernel. */
  whenDrained(fn: () => void): void {
    const { side } = this;
    if (side.closed) return;
    if (side.queuedMessages > 0) {
      this.drainWaiters.push(fn);
      return;
    }
    const socket = this.socket;
    // Over DRAINED_BYTES the socket's own buffer is full, so it will emit 'drain'.
    if (!socket || side.ws.bufferedAmount < DRAINED_BYTES) setImmediate(fn);
    else socket.once('drain', fn);
  }

  /**
   * Calls `fn` once the socket has taken what was queued for it, so a sender held back by
   * isCongested() may try again; while the peer reads nothing, that is never (no polling).
   */
  whenSocketTakes(fn: () => void): void {
    if (this.side.closed) return;
    this.socketWaiters.push(fn);
    if (this.socketWaiters.length > 1) return; // one wait on the socket serves them all
    const wake = (): void => {
      const waiters = this.socketWaiters;
      this.socketWaiters = [];
      for (const w of waiters) w();
    };
    const socket = this.socket;
    if (this.side.queuedMessages === 0 && socket?.writableNeedDrain) socket.once('drain', wake);
    else this.whenDrained(wake);
  }

  /**
   * Over its budget of unsent output while its peer is there to read it. Replies (receipts,
   * errors) cannot be dropped like transient deliveries, so the inbound work of a client that
   * sends faster than it reads waits until its output has left (server/turns.ts).
   */
  get outputFull(): boolean {
    const { ws } = this.side;
    return ws.readyState === ws.OPEN && this.side.wireBytes > this.side.maxPendingBytes;
  }

  /** Calls `fn` once the output may be under budget again: after the next flush, or once the socket has drained. */
  whenWritable(fn: () => void): void {
    if (this.side.closed) return;
    this.writableWaiters.push(fn);
    if (this.socketFull) this.pauseUntilDrained();
    else this.side.schedule(); // the flush hands the queued output to the socket, then wakes the waiters
  }

  /** After a flush handed the queued frames to the socket: pause the reads or wake the writers, and re-judge the drain waiters. */
  flushed(): void {
    if (this.socketFull) this.pauseUntilDrained();
    else this.wakeWritable();
    if (this.drainWaiters.length > 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const fn of waiters) this.whenDrained(fn);
    }
  }

  /** Stops reading from the socket for `reason`; several reasons may hold at once. */
  pauseReading(reason: PauseReason): void {
    if (this.pauses === 0 && !this.side.closed) this.side.ws.pause();
    this.pauses |= PAUSE[reason];
  }

  resumeReading(reason: PauseReason): void {
    if (!(this.pauses & PAUSE[reason])) return;
    this.pauses &= ~PAUSE[reason];
    if (this.pauses === 0 && !this.side.closed) this.side.ws.resume();
  }

  /** The connection is gone: nobody waits any more, and a paused socket must read the peer's answer to the close frame. */
  dispose(): void {
    this.drainWaiters = [];
    this.writableWaiters = [];
    this.socketWaiters = [];
    if (this.pauses !== 0) {
      this.pauses = 0;
      this.side.ws.resume();
    }
  }

  /** The socket itself holds more than the budget: only its 'drain' ends that. */
  private get socketFull(): boolean {
    const { ws } = this.side;
    return ws.readyState === ws.OPEN && ws.bufferedAmount > this.side.maxPendingBytes;
  }

  private wakeWritable(): void {
    if (this.writableWaiters.length === 0) return;
    const waiters = this.writableWaiters;
    this.writableWaiters = [];
    for (const fn of waiters) fn();
  }

  /**
   * The socket holds more than the budget: it is not read from until it has drained, so TCP
   * pushes back on a client that sends faster than it reads instead of the broker buffering
   * without end.
   */
  private pauseUntilDrained(): void {
    if (this.pauses & PAUSE.output) return;
    const socket = this.socket;
    if (!socket) return;
    this.pauseReading('output');
    this.side.pausedForOutput();
    const drained = (): void => {
      socket.off('drain', drained);
      socket.off('close', drained);
      if (this.side.closed) return;
      this.resumeReading('output');
      this.wakeWritable();
    };
    socket.on('drain', drained);
    socket.on('close', drained);
  }
}
