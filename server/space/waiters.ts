import type { Connection } from '../connection.js';
import type { StoredTuple } from './stored-tuple.js';
import type { Template } from './template.js';

/** A blocked `in` or `rd`. */
export interface Waiter {
  /** Arrival order across the broker: waiters are served lowest first. */
  readonly seq: number;
  readonly space: string;
  readonly template: Template;
  readonly take: boolean;
  readonly conn: Connection;
  readonly requestId: number;
  readonly reserveMs: number | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Waiters of one arity in one space. Each is filed under one actual value of its template (or
 * with the wildcards when it has none), so an `out` looks only at waiters that could match.
 */
export class WaiterIndex {
  private readonly byValue: Map<string, Set<Waiter>>[] = [];
  private readonly wild = new Set<Waiter>();
  size = 0;

  constructor(private readonly arity: number) {
    for (let i = 0; i < arity; i++) this.byValue.push(new Map());
  }

  add(w: Waiter): void {
    this.size++;
    const eq = w.template.equalities[0];
    if (!eq) {
      this.wild.add(w);
      return;
    }
    const map = this.byValue[eq.position]!;
    let set = map.get(eq.key);
    if (!set) map.set(eq.key, (set = new Set()));
    set.add(w);
  }

  remove(w: Waiter): void {
    const eq = w.template.equalities[0];
    let removed: boolean;
    if (!eq) {
      removed = this.wild.delete(w);
    } else {
      const map = this.byValue[eq.position]!;
      const set = map.get(eq.key);
      removed = set?.delete(w) ?? false;
      if (set && set.size === 0) map.delete(eq.key);
    }
    if (removed) this.size--;
  }

  /** Waiters whose template matches the tuple, in arrival order. */
  matching(t: StoredTuple): Waiter[] {
    const out: Waiter[] = [];
    for (let i = 0; i < this.arity; i++) {
      const set = this.byValue[i]!.get(t.keys[i]!);
      if (set) for (const w of set) if (w.template.matches(t.values)) out.push(w);
    }
    for (const w of this.wild) if (w.template.matches(t.values)) out.push(w);
    if (out.length > 1) out.sort((a, b) => a.seq - b.seq);
    return out;
  }
}
