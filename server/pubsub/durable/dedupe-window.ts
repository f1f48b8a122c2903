import type { Store, StoreWrite } from '../../store/store.js';

/** Recent message ids kept in memory; the rest of the window is looked up in the store. */
const CACHE = 65_536;
/** Expired ids one sweep deletes; more wait for the next. */
const SWEEP = 10_000;

/**
 * The publishers' message ids seen within the dedupe window, kept in the store (issue 21): a
 * record per id, ['d', mid] -> expiresAt, and an index by time, ['e', expiresAt, mid], that a
 * periodic sweep reads from its start to delete what expired. Memory holds the ids whose write is
 * not stored yet (a repeat is confirmed only once the first copy is on disk; the store does not
 * show them before) and a bounded cache of recent ones; any other id is one store read away.
 */
export class DedupeWindow {
  /** Id -> expiresAt - `since`: a small integer, held in the entry, where ms since 1970 would take a number box each. */
  private readonly cache = new Map<string, number>();
  private readonly since = Date.now();
  private readonly pending = new Map<string, { expiresAt: number; durable: Promise<void> }>();
  private readonly sweeper: ReturnType<typeof setInterval>;
  private sweeping = false;

  constructor(private readonly store: Store, private readonly windowMs: number, private readonly failed: (err: unknown) => void) {
    this.sweeper = setInterval(() => this.sweep(), Math.max(1_000, windowMs / 4));
    this.sweeper.unref();
  }

  /** When `mid` was seen within the window: the write of its first copy (undefined: stored). */
  seen(mid: string, now: number): { durable: Promise<void> | undefined } | undefined {
    const pending = this.pending.get(mid);
    if (pending) return pending.expiresAt > now ? { durable: pending.durable } : undefined;
    const cached = this.cache.get(mid);
    let expiresAt = cached === undefined ? undefined : cached + this.since;
    if (expiresAt === undefined) {
      expiresAt = this.store.get(['d', mid]) as number | undefined;
      if (expiresAt !== undefined) this.remember(mid, expiresAt);
    }
    return expiresAt !== undefined && expiresAt > now ? { durable: undefined } : undefined;
  }

  /** The writes that record `mid`, to go in the publish's transaction. */
  writes(mid: string, now: number): StoreWrite[] {
    const expiresAt = now + this.windowMs;
    return [{ key: ['d', mid], value: expiresAt }, { key: ['e', expiresAt, mid], value: 0 }];
  }

  /** The publish's write was issued; returns a function that forgets `mid` if that write fails. */
  stored(mid: string, now: number, durable: Promise<void> | undefined): () => void {
    const expiresAt = now + this.windowMs;
    if (!durable) {
      this.remember(mid, expiresAt);
      return () => { this.cache.delete(mid); };
    }
    const entry = { expiresAt, durable };
    this.pending.set(mid, entry);
    const settle = (): void => {
      if (this.pending.get(mid) === entry) this.pending.delete(mid);
    };
    durable.then(() => {
      settle();
      this.remember(mid, expiresAt);
    }, settle);
    return settle;
  }

  /** Ids held in memory (the cache and those whose write is pending), for the memory tests. */
  get size(): number {
    return this.cache.size + this.pending.size;
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  private remember(mid: string, expiresAt: number): void {
    this.cache.delete(mid);
    this.cache.set(mid, expiresAt - this.since);
    if (this.cache.size > CACHE) this.cache.delete(this.cache.keys().next().value!);
  }

  private sweep(): void {
    if (this.sweeping) return;
    const now = Date.now();
    const writes: StoreWrite[] = [];
    for (const [key] of this.store.range(['e'], { limit: SWEEP })) {
      const expiresAt = key[1] as number;
      if (expiresAt > now) break;
      const mid = key[2] as string;
      writes.push({ key });
      // A later copy of the id, published after this one expired, has a record of its own time.
      if (this.store.get(['d', mid]) === expiresAt) writes.push({ key: ['d', mid] });
      if (this.cache.get(mid) === expiresAt - this.since) this.cache.delete(mid);
    }
    if (writes.length === 0) return;
    const written = this.store.write(writes);
    if (!written) return;
    this.sweeping = true;
    written.then(() => { this.sweeping = false; }, (err: unknown) => {
      this.sweeping = false;
      this.failed(err);
    });
  }
}
