import { packStr } from '../../protocol/frame-writer.js';
import { TopicTrie } from './topic-trie.js';
import { Group, isGroup, type RouteEntry, type Subscription } from './subscription.js';
import { ownCopy } from '../strings.js';

export const CACHE_LIMIT = 16_384;

/** The receivers of one topic. */
export interface Route {
  readonly entries: RouteEntry[];
  /** Some receiver speaks JSON: a MessagePack payload must be converted (and so decodable). */
  readonly json: boolean;
  /** The topic as a MessagePack str, encoded once per route rather than once per delivery; absent on the shared empty route. */
  readonly topicBytes?: Uint8Array;
}

/** The route of every topic nobody subscribes to (durable queues' topics, often): one, not one per topic. */
const NO_RECEIVERS: Route = Object.freeze({ entries: Object.freeze([]) as unknown as RouteEntry[], json: false });

/**
 * Maps topics to receivers. Results are cached per topic until the subscriptions change, so a
 * steady stream on a few topics costs one Map lookup each.
 */
export class Router {
  private readonly trie = new TopicTrie<RouteEntry>();
  private readonly groups = new Map<string, Group>();
  private readonly cache = new Map<string, Route>();

  add(sub: Subscription): void {
    this.cache.clear();
    if (sub.group === undefined) {
      this.trie.add(sub.pattern, sub);
      return;
    }
    const key = groupKey(sub.group, sub.pattern);
    let group = this.groups.get(key);
    if (!group) {
      group = new Group(sub.group, sub.pattern);
      this.groups.set(key, group);
      this.trie.add(sub.pattern, group);
    }
    group.members.push(sub);
  }

  remove(sub: Subscription): void {
    this.cache.clear();
    if (sub.group === undefined) {
      this.trie.remove(sub.pattern, sub);
      return;
    }
    const key = groupKey(sub.group, sub.pattern);
    const group = this.groups.get(key);
    if (!group) return;
    const i = group.members.indexOf(sub);
    if (i >= 0) group.members.splice(i, 1);
    if (group.members.length === 0) {
      this.groups.delete(key);
      this.trie.remove(sub.pattern, group);
    }
  }

  /** Receivers of a concrete topic: plain subscriptions and groups (pick a member per message). */
  match(topic: string): Route {
    let route = this.cache.get(topic);
    if (route === undefined) {
      const entries = this.trie.match(topic);
      const json = entries.some((e) => (isGroup(e) ? e.members.some(speaksJson) : speaksJson(e)));
      route = entries.length === 0 ? NO_RECEIVERS : { entries, json, topicBytes: packStr(topic) };
      // The oldest entry makes room (a Map iterates in insertion order): dropping the whole cache
      // at the limit made every topic of a wide stream miss at once, ~1.8 µs each, and a GC spike.
      if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(ownCopy(topic), route);
    }
    return route;
  }

  /** The cached receivers of a topic seen before (and so already validated), or undefined. */
  cached(topic: string): Route | undefined {
    return this.cache.get(topic);
  }

  /** What the router holds, for the memory tests (server/census.ts). */
  census(): { topicNodes: number; groups: number; cachedRoutes: number } {
    return { topicNodes: this.trie.nodeCount, groups: this.groups.size, cachedRoutes: this.cache.size };
  }

  get subscriptionCount(): number {
    let n = 0;
    for (const group of this.groups.values()) n += group.members.length - 1;
    return this.trie.size + n;
  }
}

/**
 * The same characters, holding nothing else. A string decoded from a MessagePack frame may be a
 * slice of one string of all the frame's strings (msgpackr's native string extraction), which a
 * kept slice keeps whole: some 10 KB for a topic of a frame of 1,000 publishes.
 */
function speaksJson(sub: Subscription): boolean {
  return sub.conn.codec.name === 'json';
}

export function groupKey(group: string, pattern: string): string {
  return group + '\u0000' + pattern;
}
