import { OrderedBucket } from './ordered-bucket.js';
import type { StoredTuple } from './stored-tuple.js';
import type { Template } from './template.js';

/**
 * The tuples of one arity in one space. Each field position has an equality index (canonical
 * value -> tuples) and a type index; a lookup starts from the smallest bucket any indexed field
 * of the template allows and checks the rest, so an indexed actual costs a hash lookup.
 */
export class ArityIndex {
  readonly all = new OrderedBucket();
  private readonly byValue: Map<string, OrderedBucket>[] = [];
  private readonly byType: Map<string, OrderedBucket>[] = [];

  constructor(readonly arity: number) {
    for (let i = 0; i < arity; i++) {
      this.byValue.push(new Map());
      this.byType.push(new Map());
    }
  }

  get size(): number {
    return this.all.size;
  }

  add(t: StoredTuple): void {
    this.all.add(t);
    for (let i = 0; i < this.arity; i++) {
      bucket(this.byValue[i]!, t.keys[i]!).add(t);
      bucket(this.byType[i]!, t.types[i]!).add(t);
    }
  }

  remove(t: StoredTuple): void {
    this.all.delete(t);
    for (let i = 0; i < this.arity; i++) {
      unbucket(this.byValue[i]!, t.keys[i]!, t);
      unbucket(this.byType[i]!, t.types[i]!, t);
    }
  }

  /** Visits live, unexpired matches oldest first until `visit` returns true. */
  scan(template: Template, now: number, visit: (t: StoredTuple) => boolean | void): void {
    const check = (t: StoredTuple) => t.expiresAt > now && template.matches(t.values) && visit(t) === true;
    const union = this.smallestUnion(template);
    const single = this.smallestBucket(template);
    if (single === null || union === null) return;
    if (union && union.size < (single ?? this.all).size) {
      const list: StoredTuple[] = [];
      for (const b of union.buckets) b.scan((t) => { list.push(t); });
      list.sort((a, b) => a.seq - b.seq);
      for (const t of list) if (check(t)) return;
      return;
    }
    (single ?? this.all).scan(check);
  }

  /** The smallest bucket an equality or $type field allows; null when one of them is empty. */
  private smallestBucket(template: Template): OrderedBucket | undefined | null {
    let best: OrderedBucket | undefined;
    for (const { position, key } of template.equalities) {
      const b = this.byValue[position]!.get(key);
      if (!b) return null;
      if (!best || b.size < best.size) best = b;
    }
    for (const { position, type } of template.types) {
      const b = this.byType[position]!.get(type);
      if (!b) return null;
      if (!best || b.size < best.size) best = b;
    }
    return best;
  }

  /** For `$in` fields: the buckets of the listed values, for the field whose union is smallest. */
  private smallestUnion(template: Template): { size: number; buckets: OrderedBucket[] } | undefined | null {
    let best: { size: number; buckets: OrderedBucket[] } | undefined;
    for (const { position, keys } of template.inKeys) {
      const buckets = keys.map((k) => this.byValue[position]!.get(k)).filter((b): b is OrderedBucket => b !== undefined);
      if (buckets.length === 0) return null;
      const size = buckets.reduce((n, b) => n + b.size, 0);
      if (!best || size < best.size) best = { size, buckets };
    }
    return best;
  }
}

function bucket(map: Map<string, OrderedBucket>, key: string): OrderedBucket {
  let b = map.get(key);
  if (!b) map.set(key, (b = new OrderedBucket()));
  return b;
}

function unbucket(map: Map<string, OrderedBucket>, key: string, t: StoredTuple): void {
  const b = map.get(key);
  if (!b) return;
  b.delete(t);
  if (b.size === 0) map.delete(key);
}
