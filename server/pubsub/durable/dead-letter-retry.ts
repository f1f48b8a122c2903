import { LindenError } from '../../../protocol/errors.js';
import type { Store, StoreWrite } from '../../store/store.js';
import type { DurableQueue } from './durable-queue.js';
import { deleteMessage, queuedMessage, storeMessage, type QueuedMessage } from './queue-records.js';

/**
 * Admin `retry`: moves the ready messages of `<name>.dlq` (`dlq`, undefined when there is none)
 * back into `queue`, oldest first, as long as they fit its maxMessages and maxBytes (nothing is
 * dropped to make room). Each goes to the back of the line with a new seq (`nextSeq`) and a
 * delivery count of 0, and is deleted from the dead-letter queue and stored in the queue in one
 * write, so a crash leaves it in exactly one.
 */
export function retryDeadLetters(
  queue: DurableQueue, dlq: DurableQueue | undefined, store: Store, nextSeq: () => number,
): { moved: number; remaining: number; durable: Promise<void> | undefined } {
  const { name } = queue;
  if (queue.pattern === null) {
    throw new LindenError('INVALID_FRAME', `"${name}" is a dead-letter queue: name the queue whose dead letters to move back, "${name.slice(0, -'.dlq'.length)}"`, { t: 'admin', field: 'name' });
  }
  if (!dlq) return { moved: 0, remaining: 0, durable: undefined };
  let count = 0;
  let bytes = 0;
  const taken = dlq.takeReady((m) => {
    if (!queue.fits(count + 1, bytes + m.data.length)) return false;
    count++;
    bytes += m.data.length;
    return true;
  });
  // Their deferred writes go first in the same transaction, before the counters that count them.
  const deferred = [queue.takeDeferred(), dlq.takeDeferred()];
  const writes: StoreWrite[] = deferred.flatMap((d) => d?.writes ?? []);
  const moved: QueuedMessage[] = [];
  for (const m of taken) {
    const back = queuedMessage(nextSeq(), m.mid, m.topic, m.data, m.hdr, m.publishedAt, m.expiresAt, 0, undefined);
    writes.push(...deleteMessage(dlq.name, m, dlq.impliedDeliveries(m.seq)), ...storeMessage(queue.name, back));
    queue.admit(back, 'retried');
    moved.push(back);
  }
  if (writes.length > 0) writes.push(queue.counters(), dlq.counters());
  // Written before the queue hands them out, so a delivery's own write comes after this one.
  const durable = writes.length > 0 ? store.write(writes) : undefined;
  for (const d of deferred) d?.issued(durable);
  for (const m of moved) queue.enqueue(m, durable);
  return { moved: moved.length, remaining: dlq.readyCount, durable };
}
