import { TopicTrie } from '../topic-trie.js';
import type { DurableQueue } from './durable-queue.js';

/** What is routed by pattern: a durable queue (a dead-letter queue has none), a stream. */
interface Routed {
  readonly name: string;
  readonly pattern: string | null;
}

/**
 * Which queues (or streams: StreamCore) a topic reaches: their patterns in a topic trie, and one array per set of queues
 * reached, shared by every topic that reaches that set, until the queues change. What is worked
 * out per array (the queue names, the encoded receipt tails) is so worked out once per set.
 * Topics themselves are not cached: a cache of topics used once (`orders.<id>`) grew to 16,384
 * entries of some 250 bytes, the key of each a slice of its frame's decoded strings, where a trie
 * walk costs less than a store write by far.
 */
export class QueueRoutes<T extends Routed = DurableQueue> {
  private readonly trie = new TopicTrie<T>();
  private readonly routes = new Map<string, T[]>();
  /** The last topic matched and its route: a publisher usually sends many messages to one topic. */
  private lastTopic: string | undefined;
  private lastRoute: T[] = [];

  /** Nodes of the trie, for the memory tests (server/census.ts). */
  get nodeCount(): number {
    return this.trie.nodeCount;
  }

  /** Sets of queues worked out. */
  get size(): number {
    return this.routes.size;
  }

  /** A queue came: a dead-letter queue (no pattern) is reached by no topic. */
  add(queue: T): void {
    if (queue.pattern !== null) this.trie.add(queue.pattern, queue);
    this.forget();
  }

  remove(queue: T): void {
    if (queue.pattern !== null) this.trie.remove(queue.pattern, queue);
    this.forget();
  }

  match(topic: string): T[] {
    if (topic === this.lastTopic) return this.lastRoute;
    const matched = this.trie.match(topic);
    const key = matched.length === 1 ? matched[0]!.name : matched.map((q) => q.name).join('\u0000');
    let queues = this.routes.get(key);
    if (!queues) this.routes.set(key, (queues = matched.slice())); // exactly as long: one per route, kept
    this.lastTopic = topic;
    this.lastRoute = queues;
    return queues;
  }

  /** The queues changed: every route is worked out again. */
  private forget(): void {
    this.routes.clear();
    this.lastTopic = undefined;
    this.lastRoute = [];
  }
}
