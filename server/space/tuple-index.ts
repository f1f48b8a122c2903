import { BucketMap } from './bucket-map.js';
import { OrderedBucket } from './ordered-bucket.js';
import { keyAt, type StoredTuple } from './stored-tuple.js';
import type { Template } from './template.js';
import { typeOf, type IndexKey } from './values.js';

/**
 * The tuples of one arity in one space. A field position can have an equality index (indexKey
 * of value -> tuples) and a type index; a lookup starts from the smallest bucket any indexed
 * field of the template allows and checks the rest, so an indexed actual costs a hash lookup.
 *
 * A position's indexes are built on the first template that asks for them there (an actual,
 * `$in`, `$type`), by one pass over the tuples in write order, and kept from then on. Most
 * positions are never asked for (a payload, a counter, an id only ever read back): indexing
 * them too cost every `out` a bucket each (the bucket of a unique value a new one), every take
 * a lookup each, and 1,000,000 tuples of 4 fields 446 MB of heap (issue 14). The price is that
 * the first such template on a large space waits for the pass (0.13-0.15 s a million tuples here).
 */
export class ArityIndex {
  readonly all = new OrderedBucket(null);
  private readonly byValue: (BucketMap<OrderedBucket> | undefined)[] = [];
  private readonly byType: (BucketMap<OrderedBucket> | undefined)[] = [];

  constructor(readonly arity: number) {
    for (let i = 0; i < arity; i++) {
      this.byValue.push(undefined);
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
      const values = this.byValue[i];
      if (values) fileByValue(values, t, i);
      this.byType[i]?.obtain(typeOf(t.values[i])).add(t);
    }
  }

  remove(t: StoredTuple): void {
    if (!t.indexed) return;
    t.indexed = false;
    this.all.delete(t);
    for (let i = 0; i < this.arity; i++) {
      const values = this.byValue[i];
      if (values) unbucket(values, keyAt(t, i), t);
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
      const b = this.valueIndex(position).get(key);
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
      const values = this.valueIndex(position);
      const buckets = keys.map((k) => values.get(k)).filter((b): b is OrderedBucket => b !== undefined && b.size > 0);
      if (buckets.length === 0) return null;
      const size = buckets.reduce((n, b) => n + b.size, 0);
      if (!best || size < best.size) best = { size, buckets };
    }
    return best;
  }

  private valueIndex(position: number): BucketMap<OrderedBucket> {
    let values = this.byValue[position];
    if (!values) {
      const built = (values = buckets());
      this.all.scan((t) => { fileByValue(built, t, position); });
      this.byValue[position] = values;
    }
    return values;
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

/** Files `t` under its value at `position`; a composite value's key string is then the bucket's, one for all its tuples. */
function fileByValue(values: BucketMap<OrderedBucket>, t: StoredTuple, position: number): void {
  const b = values.obtain(keyAt(t, position));
  b.add(t);
  if (t.keys) t.keys[position] = b.key;
}

function unbucket(map: BucketMap<OrderedBucket>, key: IndexKey, t: StoredTuple): void {
  const b = map.get(key);
  if (!b) return;
  b.delete(t);
  if (b.size === 0) map.emptied();
}
