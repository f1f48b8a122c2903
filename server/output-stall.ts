import type { Socket } from 'node:net';

/**
 * Whether one connection's output is stuck: over its budget while the kernel takes none of it
 * (protocol.md §11 "Write deadline"). The broker looks at every connection once per sweep
 * (server/slow-consumers.ts); nothing here runs between sweeps, so a connection costs no timer.
 *
 * Progress is read from the socket itself. `bytesWritten - writableLength` are the bytes whose
 * writes Node has completed; a big write in progress completes only once the kernel has taken
 * all of it, which for a peer that reads slowly can take longer than the deadline, so the bytes
 * libuv still holds of that write (`writeQueueSize` on the handle, falling as the kernel takes
 * them) count as progress too. A handle without it (TLS) is judged on completed writes alone.
 */
export class OutputStall {
  /** The last sweep that found the output under budget or moving. */
  private movedAt: number;
  /** Bytes of completed writes, and bytes libuv still holds of the write in progress, at the last look (-1: no look yet). */
  private done = -1;
  private left = 0;
  /** What the last sweep found: over budget and not moving. */
  private stuck = false;

  constructor(now = Date.now()) {
    this.movedAt = now;
  }

  /** One sweep's look at the connection; returns how long its output has been stuck (0: it is not). */
  observe(socket: Socket | undefined, over: boolean, now: number): number {
    const done = socket ? socket.bytesWritten - socket.writableLength : 0;
    const left = writeQueueSize(socket);
    // The same completed count means the same write is in progress, so less of it left is progress.
    const moved = done > this.done || (done === this.done && left < this.left);
    this.done = done;
    this.left = left;
    // Without a socket (closing) nothing is stuck behind it.
    this.stuck = over && socket !== undefined && !moved;
    if (!this.stuck) this.movedAt = now;
    return this.stalledMs(now);
  }

  /** How long the output has been over budget without moving, as of the last sweep; 0 when it is not. */
  stalledMs(now = Date.now()): number {
    return this.stuck ? Math.max(0, now - this.movedAt) : 0;
  }
}

function writeQueueSize(socket: Socket | undefined): number {
  const size = (socket as unknown as { _handle?: { writeQueueSize?: unknown } } | undefined)?._handle?.writeQueueSize;
  return typeof size === 'number' ? size : 0;
}
