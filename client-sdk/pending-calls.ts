import { LindenError } from '../protocol/errors.js';
import type { Parts, Piece } from '../protocol/codec.js';
import type { BrokerFrame } from '../protocol/frames.js';
import { LeaseHeap, type Lease } from '../protocol/lease-heap.js';

interface Pending {
  id: number;
  resolve(frame: BrokerFrame): void;
  reject(err: Error): void;
  /** Epoch of the connection it was written on; 0 while still in the outbox. */
  sentEpoch: number;
  /** The timeout given, for the TIMEOUT message, and its place among the deadlines. */
  timeout?: number;
  deadline?: Lease<Pending>;
  /** A blocking in/rd: it may wait without end, so a client leaving a draining broker does not wait for it. */
  blocking: boolean;
  /** A publish or write as encoded, kept to send again if a draining broker refuses it (DRAINING). */
  piece?: Piece | Parts;
}

/** The broker answers by its own maxTimeoutMs at the latest; this much later the SDK gives up. */
const TIMEOUT_GRACE_MS = 1_000;
/** Beyond 2^31 ms setTimeout fires at once. */
const LONGEST_TIMER = 2 ** 31 - 1 - TIMEOUT_GRACE_MS;

/** Requests waiting for the broker's answer, by id. */
export class PendingCalls {
  private readonly pending = new Map<number, Pending>();

  /**
   * When the calls time out: one timer for all of them, on a monotonic clock. A timer and a
   * closure per call were ~700 bytes of garbage per request (issue 14).
   */
  private readonly deadlines = new LeaseHeap<Pending>((entry) => {
    this.pending.delete(entry.id);
    entry.reject(new LindenError('TIMEOUT', `no answer from the broker within ${entry.timeout!} ms`));
  }, undefined, () => performance.now());

  /** Registers request `id`; `timeout` (capped at `maxTimeoutMs`) fails it with TIMEOUT. */
  add(id: number, timeout: number | undefined, maxTimeoutMs: number | undefined, blocking = false): Promise<BrokerFrame> {
    return new Promise<BrokerFrame>((resolve, reject) => {
      const entry: Pending = { id, resolve, reject, sentEpoch: 0, blocking, timeout, deadline: undefined };
      if (timeout !== undefined) {
        entry.deadline = this.deadlines.add(entry, performance.now() + Math.min(timeout, maxTimeoutMs ?? LONGEST_TIMER) + TIMEOUT_GRACE_MS);
      }
      this.pending.set(id, entry);
    });
  }

  /** Takes request `id` off the table; undefined when it is not waiting (any more). */
  settle(id: number): Pending | undefined {
    const entry = this.pending.get(id);
    if (!entry) return undefined;
    this.pending.delete(id);
    if (entry.deadline) this.deadlines.remove(entry.deadline);
    return entry;
  }

  /** The requests `ids` left on the connection of `epoch`. */
  sent(ids: number[], epoch: number): void {
    for (const id of ids) {
      const entry = this.pending.get(id);
      if (entry) entry.sentEpoch = epoch;
    }
  }

  /** Keeps what request `id` sends, to send it again after a DRAINING refusal. */
  keep(id: number, piece: Piece | Parts): void {
    const entry = this.pending.get(id);
    if (entry) entry.piece = piece;
  }

  /** Request `id` was refused with DRAINING: back to unsent; returns what to send again, if it was kept. */
  unsend(id: number): Piece | Parts | undefined {
    const entry = this.pending.get(id);
    if (!entry?.piece) return undefined;
    entry.sentEpoch = 0;
    return entry.piece;
  }

  /** Whether an answer is awaited on the connection of `epoch`, blocking reads aside. */
  busy(epoch: number): boolean {
    for (const entry of this.pending.values()) if (entry.sentEpoch === epoch && !entry.blocking) return true;
    return false;
  }

  /** Fails the requests written on the connection of `epoch` (or all of them): their answers will not come. */
  failSent(err: Error, epoch?: number): void {
    for (const [id, entry] of [...this.pending]) if (epoch === undefined || entry.sentEpoch === epoch) this.settle(id)!.reject(err);
  }
}
