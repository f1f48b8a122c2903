import type { Key, Store, StoreWrite } from '../../store/store.js';

/** Keys per write: enough to amortise a commit, few enough that no write holds a backlog's worth in memory. */
const PIECE = 10_000;

/**
 * Deletes the entries [...prefix, seq] with `from` <= seq < `below`, a piece at a time, each piece
 * read once the one before is stored. `piece` sees each piece first: it says which seqs to keep
 * and adds writes (counters) to its transaction.
 */
export async function deleteRange(
  store: Store, prefix: Key, from: number, below: number,
  piece: (entries: Array<[Key, unknown]>) => { keep?: ReadonlySet<number>; writes: StoreWrite[] },
): Promise<void> {
  let cursor = from;
  for (;;) {
    const entries = store.range(prefix, { from: [cursor], limit: PIECE }).filter(([key]) => typeof key[2] === 'number' && key[2] < below);
    if (entries.length === 0) return;
    const { keep, writes } = piece(entries);
    const deletes: StoreWrite[] = [];
    for (const [key] of entries) if (!keep?.has(key[2] as number)) deletes.push({ key });
    await store.write([...deletes, ...writes]);
    cursor = (entries[entries.length - 1]![0][2] as number) + 1;
  }
}
