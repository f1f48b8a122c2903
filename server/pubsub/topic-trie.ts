/**
 * A trie over dot-separated tokens: routing costs the depth of the topic, not the number of
 * subscriptions. `*` matches one token, a trailing `>` one or more.
 */
// Each made on first use: most nodes are leaves holding one value, and a queue's or a
// subscription's share of the trie must stay small (issue 21: many small queues).
class TrieNode<T> {
  children: Map<string, TrieNode<T>> | undefined = undefined;
  /** The value whose pattern ends at this node, while there is one: a set costs some 150 bytes. */
  value: T | undefined = undefined;
  /** Values whose pattern ends at this node, once there are two or more (`value` is then unset). */
  values: Set<T> | undefined = undefined;
  /** Values whose pattern ends with `>` right below this node. */
  tail: Set<T> | undefined = undefined;

  isEmpty(): boolean {
    return this.value === undefined && !this.children?.size && !this.values?.size && !this.tail?.size;
  }

  has(value: T): boolean {
    return this.value === value || (this.values?.has(value) ?? false);
  }

  add(value: T): void {
    if (this.values) this.values.add(value);
    else if (this.value === undefined) this.value = value;
    else {
      this.values = new Set([this.value, value]);
      this.value = undefined;
    }
  }

  delete(value: T): boolean {
    if (this.value !== value) return this.values?.delete(value) ?? false;
    this.value = undefined;
    return true;
  }
}

export class TopicTrie<T> {
  private readonly root = new TrieNode<T>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Nodes below the root: a walk, for the memory tests (server/census.ts), not for hot paths. */
  get nodeCount(): number {
    return countNodes(this.root) - 1;
  }

  add(pattern: string, value: T): void {
    const tokens = pattern.split('.');
    let node = this.root;
    const last = tokens.length - 1;
    for (let i = 0; i < last; i++) node = child(node, tokens[i]!);
    const token = tokens[last]!;
    const set = token === '>' ? (node.tail ??= new Set()) : child(node, token);
    if (!set.has(value)) {
      set.add(value);
      this.count++;
    }
  }

  remove(pattern: string, value: T): boolean {
    const tokens = pattern.split('.');
    const path: TrieNode<T>[] = [this.root];
    let node: TrieNode<T> | undefined = this.root;
    const last = tokens.length - 1;
    for (let i = 0; i < last && node; i++) {
      node = node.children?.get(tokens[i]!);
      if (node) path.push(node);
    }
    if (!node) return false;
    const token = tokens[last]!;
    let removed: boolean;
    if (token === '>') {
      removed = node.tail?.delete(value) ?? false;
    } else {
      const leaf = node.children?.get(token);
      removed = leaf?.delete(value) ?? false;
      if (leaf) path.push(leaf);
    }
    if (removed) {
      this.count--;
      prune(path, tokens);
    }
    return removed;
  }

  /** Every value whose pattern matches the concrete topic, each once. */
  match(topic: string): T[] {
    const out: T[] = [];
    collect(this.root, topic.split('.'), 0, out);
    return out;
  }

  /**
   * The reverse question, for a trie of concrete topics (the retained index): every value
   * stored under a topic `pattern` matches. `*` walks every child, a trailing `>` takes every
   * value below (one token or more); its cost is the nodes the pattern reaches, not the trie.
   */
  matchPattern(pattern: string): T[] {
    const out: T[] = [];
    walkPattern(this.root, pattern.split('.'), 0, out);
    return out;
  }
}

function valuesOf<T>(node: TrieNode<T>, out: T[]): void {
  if (node.value !== undefined) out.push(node.value);
  else if (node.values) for (const v of node.values) out.push(v);
}

function walkPattern<T>(node: TrieNode<T>, tokens: string[], index: number, out: T[]): void {
  if (index === tokens.length) return valuesOf(node, out);
  const children = node.children;
  if (!children) return;
  const token = tokens[index]!;
  if (token === '>') {
    for (const c of children.values()) everything(c, out);
  } else if (token === '*') {
    for (const c of children.values()) walkPattern(c, tokens, index + 1, out);
  } else {
    const exact = children.get(token);
    if (exact) walkPattern(exact, tokens, index + 1, out);
  }
}

function everything<T>(node: TrieNode<T>, out: T[]): void {
  valuesOf(node, out);
  if (node.children) for (const c of node.children.values()) everything(c, out);
}

function countNodes<T>(node: TrieNode<T>): number {
  let n = 1;
  if (node.children) for (const c of node.children.values()) n += countNodes(c);
  return n;
}

function child<T>(node: TrieNode<T>, token: string): TrieNode<T> {
  let next = node.children?.get(token);
  if (!next) {
    next = new TrieNode<T>();
    (node.children ??= new Map()).set(token, next);
  }
  return next;
}

function collect<T>(node: TrieNode<T>, tokens: string[], index: number, out: T[]): void {
  if (index === tokens.length) return valuesOf(node, out);
  // `>` needs at least one more token, and here there is one.
  if (node.tail) for (const v of node.tail) out.push(v);
  const children = node.children;
  if (!children) return;
  const exact = children.get(tokens[index]!);
  if (exact) collect(exact, tokens, index + 1, out);
  const star = children.get('*');
  if (star) collect(star, tokens, index + 1, out);
}

/** Drops nodes left empty by a removal, bottom up. */
function prune<T>(path: TrieNode<T>[], tokens: string[]): void {
  for (let i = path.length - 1; i > 0; i--) {
    if (!path[i]!.isEmpty()) return;
    path[i - 1]!.children!.delete(tokens[i - 1]!);
  }
}
