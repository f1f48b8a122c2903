import type { Store } from '../../store/store.js';
import type { DurableQueue } from './durable-queue.js';
import { putQueue, type QueueRecord } from './queue-records.js';

/**
 * Writes of the queues' records (a queue's creation, its settings). The last one of a queue is
 * kept while it is not on disk, or once it failed: an `ok` about the queue may not come before
 * it (protocol.md §9.8).
 */
export class QueueRecordWrites {
  private readonly unstored = new Map<DurableQueue, { written: Promise<void>; failed: boolean }>();

  constructor(private readonly store: Store) {}

  /** Records not yet on disk, for the memory tests (server/census.ts). */
  get size(): number {
    return this.unstored.size;
  }

  /** Writes the queue's record as it is now; resolves once it is on disk. */
  write(queue: DurableQueue): Promise<void> | undefined {
    const written = this.store.write([putQueue(record(queue))]);
    if (!written) {
      this.unstored.delete(queue);
      return undefined;
    }
    const entry = { written, failed: false };
    this.unstored.set(queue, entry);
    written.then(
      () => { if (this.unstored.get(queue) === entry) this.unstored.delete(queue); },
      () => { entry.failed = true; },
    );
    return written;
  }

  /** Resolves once the queue's record is on disk; a record whose write failed is written again. */
  stored(queue: DurableQueue): Promise<void> | undefined {
    const pending = this.unstored.get(queue);
    if (!pending) return undefined;
    return pending.failed ? this.write(queue) : pending.written;
  }

  /** The queue was deleted: its record goes with it. */
  forget(queue: DurableQueue): void {
    this.unstored.delete(queue);
  }
}

function record(q: DurableQueue): QueueRecord {
  return { name: q.name, pattern: q.pattern, config: q.config, createdAt: q.createdAt, firstSeq: q.firstSeq };
}
