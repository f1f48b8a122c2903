/** The `n` items of lowest seq, in order: a scan keeping the n best, not a sort of everything. */
export function firstBySeq<T extends { seq: number }>(items: Iterable<T>, n: number): T[] {
  const best: T[] = [];
  if (n <= 0) return best;
  for (const item of items) {
    if (best.length === n && item.seq > best[n - 1]!.seq) continue;
    let i = best.length;
    while (i > 0 && best[i - 1]!.seq > item.seq) i--;
    best.splice(i, 0, item);
    if (best.length > n) best.pop();
  }
  return best;
}
