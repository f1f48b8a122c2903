import { BucketMap } from './bucket-map.js';
import { OrderedBucket } from './ordered-bucket.js';
import { keyAt, type StoredTuple } from './stored-tuple.js';
import type { Template } from './template.js';
import { typeOf, type IndexKey } from './values.js';

/**
 * The tuples of one arity in one space. Each field position has an equality index (indexKey of
 * value -> tuples) and a type index; a lookup starts from the smallest bucket any indexed field
 * of the template allows and checks the rest, so an indexed actual costs a hash lookup.
 *
 * A position's type index is built on the first `$type` template that asks for that position:
 * most spaces never use one, and keeping it for every tuple cost a quarter of the write time.
 */
export class ArityIndex {
  readonly all = new OrderedBucket(null);
  private readonly byValue: BucketMap<OrderedBucket>[] = [];
  private readonly byType: (BucketMap<OrderedBucket> | undefined)[] = [];

  constructor(readonly arity: number) {
    for (let i = 0; i < arity; i++) {
      this.byValue.push(buckets());
      this.byType.push(undefined);
    }
  }

  get size(): number {
    return this.all.size;
  }

  add(t: StoredTuple): void {
    t.indexed = true;
    this.all.add(t);
    for (let i = 0; i < this.arity; i++) {
      const b = this.byValue[i]!.obtain(keyAt(t, i));
      b.add(t);
      if (t.keys) t.keys[i] = b.key;
      this.byType[i]?.obtain(typeOf(t.values[i])).add(t);
    }
  }

  remove(t: StoredTuple): void {
    if (!t.indexed) return;
    t.indexed = false;
    this.all.delete(t);
    for (let i = 0; i < this.arity; i++) {
      unbucket(this.byValue[i]!, keyAt(t, i), t);
      const types = this.byType[i];
      if (types) unbucket(types, typeOf(t.values[i]), t);
    }
  }

  /** Visits live, unexpired matches oldest first until `visit` returns true. `visit` must not change the index. */
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

  /** The oldest live, unexpired match: what scan() would visit first, found without closures (every `in` and `rd` asks). */
  first(template: Template, now: number): StoredTuple | undefined {
    if (template.inKeys.length > 0) {
      let found: StoredTuple | undefined;
      this.scan(template, now, (t) => { found = t; return true; });
      return found;
    }
    const single = this.smallestBucket(template);
    return single === null ? undefined : (single ?? this.all).first(template, now);
  }

  /** The smallest bucket an equality or $type field allows; null when one of them is empty. */
  private smallestBucket(template: Template): OrderedBucket | undefined | null {
    let best: OrderedBucket | undefined;
    for (const { position, key } of template.equalities) {
      const b = this.byValue[position]!.get(key);
      if (!b || b.size === 0) return null;
      if (!best || b.size < best.size) best = b;
    }
    for (const { position, type } of template.types) {
      const b = this.typeIndex(position).get(type);
      if (!b || b.size === 0) return null;
      if (!best || b.size < best.size) best = b;
    }
    return best;
  }

  /** For `$in` fields: the buckets of the listed values, for the field whose union is smallest. */
  private smallestUnion(template: Template): { size: number; buckets: OrderedBucket[] } | undefined | null {
    let best: { size: number; buckets: OrderedBucket[] } | undefined;
    for (const { position, keys } of template.inKeys) {
      const buckets = keys.map((k) => this.byValue[position]!.get(k)).filter((b): b is OrderedBucket => b !== undefined && b.size > 0);
      if (buckets.length === 0) return null;
      const size = buckets.reduce((n, b) => n + b.size, 0);
      if (!best || size < best.size) best = { size, buckets };
    }
    return best;
  }

  private typeIndex(position: number): BucketMap<OrderedBucket> {
    let types = this.byType[position];
    if (!types) {
      const built = (types = buckets());
      this.all.scan((t) => { built.obtain(typeOf(t.values[position])).add(t); });
      this.byType[position] = types;
    }
    return types;
  }
}

function buckets(): BucketMap<OrderedBucket> {
  return new BucketMap((key) => new OrderedBucket(key));
}

function unbucket(map: BucketMap<OrderedBucket>, key: IndexKey, t: StoredTuple): void {
  const b = map.get(key);
  if (!b) return;
  b.delete(t);
  if (b.size === 0) map.emptied();
}
