import { TopicTrie } from '../pubsub/topic-trie.js';

/** What one remote node holds for one interest key. */
interface RemoteEntry {
  readonly node: string;
  readonly key: string;
  count: number;
}

/** The members of one queue group on other nodes. */
export interface RemoteGroup {
  /** The router's group key (group name and pattern). */
  readonly key: string;
  readonly nodes: string[];
  readonly counts: number[];
  readonly total: number;
}

/** Where a topic's messages must go besides this node. */
export interface RemotePlan {
  /** Nodes with plain subscriptions matching the topic, and how many. */
  readonly plain: Map<string, number>;
  readonly groups: RemoteGroup[];
}

const NOTHING: RemotePlan = Object.freeze({ plain: new Map(), groups: [] });
const CACHE_LIMIT = 16_384;

interface NodeView {
  seq: number;
  entries: Map<string, RemoteEntry>;
}

/**
 * The interest of every other node, as they advertise it in Redis: a topic trie of (node,
 * pattern or group) entries, with the plan per topic cached until some interest changes.
 */
export class RemoteInterest {
  private readonly nodes = new Map<string, NodeView>();
  private readonly trie = new TopicTrie<RemoteEntry>();
  private readonly cache = new Map<string, RemotePlan>();

  get nodeIds(): string[] {
    return [...this.nodes.keys()];
  }

  get nodeCount(): number {
    return this.nodes.size;
  }

  seqOf(node: string): number | undefined {
    return this.nodes.get(node)?.seq;
  }

  /** Whether some other node has a subscriber for `topic`. */
  plan(topic: string): RemotePlan {
    let plan = this.cache.get(topic);
    if (plan === undefined) {
      plan = this.compute(topic);
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(topic, plan);
    }
    return plan;
  }

  /** A node's whole interest, read from Redis (HGETALL): replaces what was known of it. */
  load(node: string, hash: Record<string, string>): void {
    this.drop(node);
    const view: NodeView = { seq: Number(hash['#seq'] ?? 0), entries: new Map() };
    this.nodes.set(node, view);
    for (const [key, count] of Object.entries(hash)) if (key !== '#seq') this.set(node, view, key, Number(count));
  }

  /** Applies one notified change set; false when one was missed (the caller reloads the node). */
  apply(node: string, seq: number, changes: Record<string, number>): boolean {
    const view = this.nodes.get(node);
    if (!view) return false;
    if (seq <= view.seq) return true;
    if (seq !== view.seq + 1) return false;
    view.seq = seq;
    for (const [key, count] of Object.entries(changes)) this.set(node, view, key, count);
    return true;
  }

  drop(node: string): void {
    const view = this.nodes.get(node);
    if (!view) return;
    this.nodes.delete(node);
    for (const entry of view.entries.values()) this.trie.remove(patternOf(entry.key), entry);
    this.cache.clear();
  }

  private set(node: string, view: NodeView, key: string, count: number): void {
    this.cache.clear();
    const entry = view.entries.get(key);
    if (count > 0) {
      if (entry) entry.count = count;
      else {
        const added = { node, key, count };
        view.entries.set(key, added);
        this.trie.add(patternOf(key), added);
      }
      return;
    }
    if (!entry) return;
    view.entries.delete(key);
    this.trie.remove(patternOf(key), entry);
  }

  private compute(topic: string): RemotePlan {
    const entries = this.trie.match(topic);
    if (entries.length === 0) return NOTHING;
    const plain = new Map<string, number>();
    const groups = new Map<string, { nodes: string[]; counts: number[]; total: number }>();
    for (const e of entries) {
      if (e.key[0] === 'p') {
        plain.set(e.node, (plain.get(e.node) ?? 0) + e.count);
        continue;
      }
      const key = e.key.slice(1);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { nodes: [], counts: [], total: 0 }));
      g.nodes.push(e.node);
      g.counts.push(e.count);
      g.total += e.count;
    }
    return { plain, groups: [...groups].map(([key, g]) => ({ key, ...g })) };
  }
}

/** The pattern inside an interest key: `p<pattern>` or `g<group>\0<pattern>`. */
function patternOf(key: string): string {
  return key[0] === 'p' ? key.slice(1) : key.slice(key.indexOf('\u0000') + 1);
}
