import type { QueueDefinition } from './queue-directory.js';

/** As DurableCore: a name leaves room for "<name>.dlq" within the 128 characters of a name. */
export const MAX_QUEUE_NAME = 124;

/** Per matching queue, what the publish script needs to decide whether it takes the message. */
export function publishArgs(queues: readonly QueueDefinition[]): string[] {
  return queues.flatMap((q) => [String(q.config.maxMessages), q.config.overflow === 'reject' ? 'r' : 'd']);
}
