import type { StoredTuple } from '../space/stored-tuple.js';
import type { Template } from '../space/template.js';
import { canonicalKey } from '../space/values.js';
import { SPACE_BYTES_KEY } from './keys.js';
import { equalityKey, tupleOf } from './space-entries.js';
import { spaceKey } from './space-scripts.js';

type Arg = string | number | Buffer;

/** The scripts a scan runs (defined by ClusterSpaces, space-scripts.ts). */
export interface ScanScripts {
  lindenSpacePageBuffer(...args: Arg[]): Promise<(Buffer | number)[]>;
  lindenSpaceTakeBuffer(...args: Arg[]): Promise<Buffer | null>;
}

/** Candidates read per round trip while looking for a match. */
const PAGE = 256;

/**
 * Visits the live visible tuples of a cluster's space that the template could match, oldest
 * first, until `visit` says stop; drops the expired ones it meets. Candidates come from the
 * smallest equality index of the template's actual values, or from all of its arity when it has
 * none.
 */
export async function scanSpace(redis: ScanScripts, space: string, template: Template, visit: (t: StoredTuple) => Promise<boolean>): Promise<void> {
  const index = spaceKey(space, `a:${template.arity}`);
  const tuples = spaceKey(space, 't');
  const eq: string[] = [];
  for (const { position, value } of template.equalities) {
    const index = equalityKey(space, template.arity, position, canonicalKey(value));
    if (index) eq.push(index);
  }
  let after = '0';
  for (;;) {
    const page = await redis.lindenSpacePageBuffer(2 + eq.length, index, tuples, ...eq, after, PAGE);
    after = page[0]!.toString();
    const now = Date.now();
    for (let i = 2; i < page.length; i += 3) {
      const tid = page[i]!.toString();
      const t = tupleOf(space, tid, Number(page[i + 1]!.toString()), page[i + 2] as Buffer);
      if (t.expiresAt <= now) {
        redis.lindenSpaceTakeBuffer(index, tuples, spaceKey(space, 'n'), SPACE_BYTES_KEY, tid, spaceKey(space, 'events'), 'e').catch(() => undefined);
        continue;
      }
      if (await visit(t)) return;
    }
    if (page[1] !== 1) return;
  }
}
