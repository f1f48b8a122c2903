import { LindenError } from '../protocol/errors.js';
import type { BrokerFrame } from '../protocol/frames.js';

interface Pending {
  resolve(frame: BrokerFrame): void;
  reject(err: Error): void;
  /** Epoch of the connection it was written on; 0 while still in the outbox. */
  sentEpoch: number;
  timer?: ReturnType<typeof setTimeout>;
}

/** The broker answers by its own maxTimeoutMs at the latest; this much later the SDK gives up. */
const TIMEOUT_GRACE_MS = 1_000;
/** Beyond 2^31 ms setTimeout fires at once. */
const LONGEST_TIMER = 2 ** 31 - 1 - TIMEOUT_GRACE_MS;

/** Requests waiting for the broker's answer, by id. */
export class PendingCalls {
  private readonly pending = new Map<number, Pending>();

  /** Registers request `id`; `timeout` (capped at `maxTimeoutMs`) fails it with TIMEOUT. */
  add(id: number, timeout: number | undefined, maxTimeoutMs: number | undefined): Promise<BrokerFrame> {
    return new Promise<BrokerFrame>((resolve, reject) => {
      const entry: Pending = { resolve, reject, sentEpoch: 0 };
      if (timeout !== undefined) {
        entry.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new LindenError('TIMEOUT', `no answer from the broker within ${timeout} ms`));
        }, Math.min(timeout, maxTimeoutMs ?? LONGEST_TIMER) + TIMEOUT_GRACE_MS);
      }
      this.pending.set(id, entry);
    });
  }

  /** Takes request `id` off the table; undefined when it is not waiting (any more). */
  settle(id: number): Pending | undefined {
    const entry = this.pending.get(id);
    if (!entry) return undefined;
    this.pending.delete(id);
    if (entry.timer) clearTimeout(entry.timer);
    return entry;
  }

  /** The requests `ids` left on the connection of `epoch`. */
  sent(ids: number[], epoch: number): void {
    for (const id of ids) {
      const entry = this.pending.get(id);
      if (entry) entry.sentEpoch = epoch;
    }
  }

  /** Fails the requests written on the connection of `epoch` (or all of them): their answers will not come. */
  failSent(err: Error, epoch?: number): void {
    for (const [id, entry] of [...this.pending]) if (epoch === undefined || entry.sentEpoch === epoch) this.settle(id)!.reject(err);
  }
}
