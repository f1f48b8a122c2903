/**
 * Where the cores keep what must outlive a connection. The in-memory indexes are the working
 * set; a Store is the record they are rebuilt from. MemoryStore serves transient spaces and
 * brokers without a data folder; the LMDB store (persistence issue) implements the same
 * interface and passes the same tests.
 */
export interface StoredTupleRecord {
  seq: number;
  tid: string;
  space: string;
  values: unknown[];
  expiresAt: number | null;
}

export type SpaceMutation =
  | { op: 'put'; tuple: StoredTupleRecord }
  | { op: 'delete'; space: string; tid: string }
  | { op: 'lease'; space: string; tid: string; expiresAt: number | null };

export interface Store {
  /**
   * Applies the mutations atomically. Returns undefined when they are already applied (memory),
   * or a promise that resolves once they are durable.
   */
  writeSpace(mutations: SpaceMutation[]): Promise<void> | undefined;
  /** Every stored tuple of a space, oldest first. */
  loadSpace(space: string): Promise<StoredTupleRecord[]>;
  close(): Promise<void>;
}

export class MemoryStore implements Store {
  private readonly spaces = new Map<string, Map<string, StoredTupleRecord>>();

  writeSpace(mutations: SpaceMutation[]): undefined {
    for (const m of mutations) {
      if (m.op === 'put') {
        let space = this.spaces.get(m.tuple.space);
        if (!space) this.spaces.set(m.tuple.space, (space = new Map()));
        space.set(m.tuple.tid, m.tuple);
      } else if (m.op === 'delete') {
        this.spaces.get(m.space)?.delete(m.tid);
      } else {
        const t = this.spaces.get(m.space)?.get(m.tid);
        if (t) t.expiresAt = m.expiresAt;
      }
    }
    return undefined;
  }

  async loadSpace(space: string): Promise<StoredTupleRecord[]> {
    return [...(this.spaces.get(space)?.values() ?? [])].sort((a, b) => a.seq - b.seq);
  }

  async close(): Promise<void> {
    this.spaces.clear();
  }
}
