/**
 * How durable queues lie in Redis (cluster mode). Every broker sharing the Redis uses these:
 *   linden:queues            hash  name -> JSON QueueDefinition: every queue, its pattern and settings
 *   linden:queues:version    int   bumped by every change of that hash; a persistent publish names
 *                                  the version it routed by, and is refused ('stale') if it moved on
 *   linden:queues:changed    channel: the name of a queue that changed, so nodes reload it
 *   linden:stream:<name>     stream of the queue's messages; consumer group `linden`, one consumer
 *                                  per broker (its node id); acked entries are deleted (XDEL)
 *   linden:mid:<mid>         a publisher's message id inside the dedupe window (SET NX PX)
 * A dead-letter queue `<name>.dlq` is a queue like the others, with pattern null.
 */
export const QUEUES_HASH = 'linden:queues';
export const QUEUES_VERSION = 'linden:queues:version';
export const QUEUES_CHANNEL = 'linden:queues:changed';
export const GROUP = 'linden';

export function streamKey(queue: string): string {
  return `linden:stream:${queue}`;
}

export function midKey(mid: string): string {
  return `linden:mid:${mid}`;
}
