import { firstBySeq } from '../../first-by-seq.js';
import type { QueuedMessage } from './queue-records.js';

export type MessageState = 'ready' | 'in flight' | 'delayed';

/** What a queue holds, by where each message is: read here for inspection, never changed. */
export interface QueueContents {
  /** The window and, past it, the head of the backlog as far as asked for. */
  readonly ready: readonly QueuedMessage[];
  readonly inFlight: Iterable<{ readonly message: QueuedMessage }>;
  readonly delayed: Iterable<{ readonly message: QueuedMessage }>;
}

/** When the oldest message held was published: the head of the line, or one away from it. */
export function oldestPublishedAt({ ready, inFlight, delayed }: QueueContents): number | undefined {
  let oldest = firstBySeq(ready, 1)[0]?.publishedAt;
  for (const { message } of [...inFlight, ...delayed]) {
    if (oldest === undefined || message.publishedAt < oldest) oldest = message.publishedAt;
  }
  return oldest;
}

/**
 * The `n` messages first in line (lowest seq), wherever they are. A scan keeping the n best, not
 * a sort: an operator's look must not cost a million-message sort.
 */
export function oldestMessages({ ready, inFlight, delayed }: QueueContents, n: number): { message: QueuedMessage; state: MessageState }[] {
  function* everywhere() {
    for (const m of ready) yield { seq: m.seq, message: m, state: 'ready' as const };
    for (const f of inFlight) yield { seq: f.message.seq, message: f.message, state: 'in flight' as const };
    for (const d of delayed) yield { seq: d.message.seq, message: d.message, state: 'delayed' as const };
  }
  return firstBySeq(everywhere(), n).map(({ message, state }) => ({ message, state }));
}
