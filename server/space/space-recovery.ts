import type { Store, StoreWrite } from '../store/store.js';
import { SEQ_KEY, SPACES_PREFIX, TUPLES_PREFIX, type SpaceRecord, type TupleRecord } from './space-records.js';
import type { Space } from './space.js';
import { storedTuple } from './stored-tuple.js';

export interface Recovered {
  spaces: number;
  tuples: number;
  /** The first tuple seq this process may hand out: above every stored tuple and the recorded mark. */
  nextSeq: number;
}

/**
 * Rebuilds the persistent spaces from the store: each space is made persistent again and gets
 * its live tuples back in seq order (oldest first), leases re-armed. Tuples whose lease ended
 * while the broker was down are deleted, as are tuples of a space with no record (none should
 * exist: a space drops its record only once empty). A tuple that was reserved when the broker
 * stopped is simply back: its taker never acknowledged it.
 */
export async function recoverSpaces(store: Store, now: number, space: (name: string) => Space): Promise<Recovered> {
  const persistent = new Map<string, Space>();
  for (const [key, value] of await store.scan(SPACES_PREFIX)) {
    const s = space(key[1] as string);
    s.persistent = true;
    s.createdAt = (value as SpaceRecord).createdAt;
    persistent.set(s.name, s);
  }
  const stale: StoreWrite[] = [];
  let tuples = 0;
  let nextSeq = 0;
  for (const [key, value] of await store.scan(TUPLES_PREFIX)) {
    const [, name, seq] = key as [string, string, number];
    nextSeq = Math.max(nextSeq, seq + 1);
    const r = value as TupleRecord;
    const s = persistent.get(name);
    if (!s || (r.expiresAt !== null && r.expiresAt <= now)) {
      stale.push({ key });
      continue;
    }
    s.restore(storedTuple(seq, r.tid, name, r.values, r.expiresAt ?? Infinity, undefined, r.hdr));
    tuples++;
  }
  const [mark] = await store.scan(SEQ_KEY);
  if (mark) nextSeq = Math.max(nextSeq, mark[1] as number);
  if (stale.length > 0) await store.write(stale);
  return { spaces: persistent.size, tuples, nextSeq };
}
