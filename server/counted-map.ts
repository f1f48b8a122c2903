/** A running total shared by several CountedMaps: what they hold together. */
export class Tally {
  count = 0;
}

/**
 * A Map that adds what it holds to a shared Tally: entries (weight 1) or, with `weight`, a size
 * such as bytes. Every way in or out of a Map goes through set, delete or clear, so a total kept
 * this way cannot drift from the maps, whichever code adds or removes entries. Values are never
 * undefined (a missing key and an undefined value would look alike).
 */
export class CountedMap<K, V> extends Map<K, V> {
  constructor(private readonly tally: Tally, private readonly weight: (value: V) => number = one) {
    super();
  }

  override set(key: K, value: V): this {
    const old = super.get(key);
    this.tally.count += this.weight(value) - (old === undefined ? 0 : this.weight(old));
    return super.set(key, value);
  }

  /**
   * set() for a key the caller knows is new (a tuple's fresh id): one hash lookup instead of two.
   * A key that was there after all would count its old value twice, so only fresh keys come here.
   */
  add(key: K, value: V): this {
    this.tally.count += this.weight(value);
    return super.set(key, value);
  }

  override delete(key: K): boolean {
    const old = super.get(key);
    if (old === undefined) return false;
    this.tally.count -= this.weight(old);
    return super.delete(key);
  }

  /**
   * delete(key) for a caller that holds the value filed under `key`: one lookup instead of two,
   * which in a map of a million tuples is most of what taking one costs there.
   */
  deleteHeld(key: K, value: V): boolean {
    if (!super.delete(key)) return false;
    this.tally.count -= this.weight(value);
    return true;
  }

  override clear(): void {
    for (const value of super.values()) this.tally.count -= this.weight(value);
    super.clear();
  }
}

/** The default weight, one function for every map (a connection's subscriptions are one of thousands). */
function one(): number {
  return 1;
}
