import type { Redis } from 'ioredis';
import { LindenError } from '../../protocol/errors.js';
import type { ResolvedOptions } from '../options.js';
import type { BatchStep } from '../space/space.js';
import { finite } from '../space/space-wire.js';
import { storedTuple, type StoredTuple } from '../space/stored-tuple.js';
import { LEASES_KEY, OFFERS_KEY, SPACE_BYTES_KEY } from './keys.js';
import { equalityKeys, packRecord, recordOf } from './space-entries.js';
import { ANNOUNCE, spaceKey } from './space-scripts.js';
import { OFFER_MS } from './space-sweeps.js';

/**
 * KEYS: t, seq, n, x, wseq, bytes, leases, offers, then the keys the steps name by index. ARGV:
 * now (ms), maxTuplesPerSpace, events channel, the number of `out` steps, maxSpaceBytesTotal,
 * space, offer deadline, then per step in order:
 *   'r'|'i', tid, record read, lease end ('' for none), index of a:<arity>   (a tuple in Redis)
 *   'R'|'I', ordinal (from 1) of the batch's own out step it reads or takes
 *   'o', record, index of a:<arity>, index of w:<arity>, lease end, arity, first and last index of its equality keys
 * All or nothing: {-1} when the space cannot take the outs, {-2, bytes held, bytes of the outs}
 * when all spaces would hold too many bytes, {0, step} when the tuple a step chose changed or
 * left sight since it was read (the caller plans again), else {1, wseq, then seq and hidden per
 * out step}. Effects and events in step order; an out taken by a later step of the batch gets
 * its `out` and `in` events and is never stored. The cluster-wide keys are kept as by SPACE_OUT
 * and SPACE_TAKE: the byte count follows every record stored or removed, a lease files the
 * space's next end in `leases`, and an out kept hidden (waiters of its arity exist, for its node
 * to offer) files its offer in `offers`.
 */
export const SPACE_BATCH = ANNOUNCE + `
local now = tonumber(ARGV[1])
if redis.call('HLEN', KEYS[1]) + tonumber(ARGV[4]) > tonumber(ARGV[2]) then return {-1} end
local first = 8
local adding = 0
local i = first
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'o' then adding = adding + #ARGV[i + 1]; i = i + 8
  elseif op == 'r' or op == 'i' then i = i + 5
  else i = i + 2 end
end
local bytes = tonumber(redis.call('GET', KEYS[6]) or '0')
if adding > 0 and bytes + adding > tonumber(ARGV[5]) then return {-2, bytes, adding} end
i = first
local step = 0
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'r' or op == 'i' then
    local tid = ARGV[i + 1]
    if redis.call('HGET', KEYS[1], tid) ~= ARGV[i + 2] then return {0, step} end
    if not redis.call('ZSCORE', KEYS[tonumber(ARGV[i + 4])], tid) then return {0, step} end
    if ARGV[i + 3] ~= '' and tonumber(ARGV[i + 3]) <= now then return {0, step} end
    i = i + 5
  elseif op == 'o' then i = i + 8
  else i = i + 2 end
  step = step + 1
end
local own = {}
i = first
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'o' then
    local seq = redis.call('INCR', KEYS[2])
    local o = { tid = tostring(seq), seq = seq, rec = ARGV[i + 1], live = true, a = tonumber(ARGV[i + 2]), w = tonumber(ARGV[i + 3]),
      lease = ARGV[i + 4], arity = ARGV[i + 5], e1 = tonumber(ARGV[i + 6]), e2 = tonumber(ARGV[i + 7]) }
    table.insert(own, o)
    announce(KEYS[3], ARGV[3], 'o', o.tid, o.rec)
    i = i + 8
  elseif op == 'i' then
    redis.call('ZREM', KEYS[tonumber(ARGV[i + 4])], ARGV[i + 1])
    redis.call('HDEL', KEYS[1], ARGV[i + 1])
    held(KEYS[6], -#ARGV[i + 2])
    announce(KEYS[3], ARGV[3], 'i', ARGV[i + 1], ARGV[i + 2])
    i = i + 5
  elseif op == 'r' then i = i + 5
  else
    if op == 'I' then
      local o = own[tonumber(ARGV[i + 1])]
      o.live = false
      announce(KEYS[3], ARGV[3], 'i', o.tid, o.rec)
    end
    i = i + 2
  end
end
local out = {1, tonumber(redis.call('GET', KEYS[5]) or '0')}
for _, o in ipairs(own) do
  local hidden = 0
  if o.live then
    redis.call('HSET', KEYS[1], o.tid, o.rec)
    held(KEYS[6], #o.rec)
    if o.lease ~= '' then
      redis.call('ZADD', KEYS[4], o.lease, o.arity .. ':' .. o.tid)
      redis.call('ZADD', KEYS[7], 'LT', o.lease, ARGV[6])
    end
    if redis.call('ZCARD', KEYS[o.w]) > 0 then
      hidden = 1
      redis.call('ZADD', KEYS[8], ARGV[7], o.tid .. ' ' .. ARGV[6])
    else
      redis.call('ZADD', KEYS[o.a], o.seq, o.tid)
      for k = o.e1, o.e2 do redis.call('ZADD', KEYS[k], o.seq, o.tid) end
    end
  end
  table.insert(out, o.seq)
  table.insert(out, hidden)
end
return out
`;

type Arg = string | number | Buffer;
type Scripted = Redis & { lindenSpaceBatch(...args: Arg[]): Promise<number[]> };

/** What a batch needs of the cluster's spaces (ClusterSpaces). */
export interface BatchHost {
  /** Visits the live visible tuples the template could match, oldest first, until `visit` says stop. */
  scan(space: string, template: BatchTemplate, visit: (t: StoredTuple) => Promise<boolean>): Promise<void>;
  /** Offers a hidden tuple written by the batch to the waiters, then shows it (as after an out); its offer is filed in OFFERS_KEY. */
  offer(space: string, t: StoredTuple, rec: Buffer, wseq: number): Promise<void>;
  /** A tuple of Redis that the batch took for good: its writer may wait for that (ack processing). */
  taken(t: StoredTuple): void;
}

type BatchTemplate = Extract<BatchStep, { template: unknown }>['template'];

/** Plans made again when another node changed a chosen tuple first; then the batch fails at that step. */
const ATTEMPTS = 16;

/**
 * `batch` (protocol.md §10.10) on a space in Redis, atomic across nodes, optimistically: the
 * node chooses the tuple each `inp`/`rdp` step would get (oldest first, seeing the earlier steps'
 * effects: tuples taken are skipped, the batch's own outs come after every older tuple), then one
 * script checks every chosen tuple is still there, unchanged and visible, and applies all the
 * steps or none. A conflict plans again, a bounded number of times.
 */
export class ClusterBatches {
  private readonly redis: Scripted;

  constructor(
    redis: Redis,
    private readonly host: BatchHost,
    private readonly limits: Pick<ResolvedOptions, 'maxTuplesPerSpace' | 'maxSpaceBytesTotal'>,
  ) {
    this.redis = redis as Scripted;
    this.redis.defineCommand('lindenSpaceBatch', { lua: SPACE_BATCH });
  }

  /** The tuple of each step, in step order; the outs with their tid. Throws BATCH_FAILED or SPACE_FULL. */
  async run(space: string, steps: BatchStep[]): Promise<StoredTuple[]> {
    const outs = steps.filter((s) => s.op === 'out').map((s) => (s as { tuple: StoredTuple }).tuple);
    const records = outs.map((t) => packRecord(t.values, t.expiresAt, t.hdr));
    for (let attempt = 1; ; attempt++) {
      const plan = await this.plan(space, steps, outs, records);
      const answer = await this.redis.lindenSpaceBatch(plan.keys.length, ...plan.keys, ...plan.args);
      const status = Number(answer[0]);
      if (status === -1) {
        throw new LindenError('SPACE_FULL', `space "${space}" cannot take ${outs.length} more tuples (maxTuplesPerSpace)`, { space, limit: 'maxTuplesPerSpace' });
      }
      if (status === -2) {
        const limit = this.limits.maxSpaceBytesTotal;
        throw new LindenError(
          'SPACE_FULL',
          `the spaces hold ${answer[1]} bytes of tuples; ${answer[2]} more would pass the limit for all spaces together (maxSpaceBytesTotal ${limit})`,
          { space, limit: 'maxSpaceBytesTotal' },
        );
      }
      if (status === 0) {
        if (attempt < ATTEMPTS) continue;
        throw failed(Number(answer[1]), steps);
      }
      return this.applied(space, steps, plan.results, outs, records, answer);
    }
  }

  private async plan(space: string, steps: BatchStep[], outs: StoredTuple[], records: Buffer[]) {
    const k = (part: string) => spaceKey(space, part);
    const keys = [k('t'), k('seq'), k('n'), k('x'), k('wseq'), SPACE_BYTES_KEY, LEASES_KEY, OFFERS_KEY];
    const index = new Map<string, number>();
    const key = (name: string) => {
      let n = index.get(name);
      if (n === undefined) {
        keys.push(name);
        index.set(name, (n = keys.length));
      }
      return n;
    };
    const args: Arg[] = [Date.now(), this.limits.maxTuplesPerSpace, k('events'), outs.length, this.limits.maxSpaceBytesTotal, space, Date.now() + OFFER_MS];
    const results: (StoredTuple | number)[] = []; // a number: the batch's own out of that ordinal
    const removed = new Set<string>();
    const ownTaken = new Set<number>();
    let written = 0;
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      if (step.op === 'out') {
        const t = step.tuple;
        // Appended even when named already: the script reads them as one run of indexes.
        const eq = equalityKeys(space, t.values).map((name) => keys.push(name));
        args.push('o', records[written]!, key(k(`a:${t.values.length}`)), key(k(`w:${t.values.length}`)),
          Number.isFinite(t.expiresAt) ? t.expiresAt : '', t.values.length, eq[0] ?? 0, eq.at(-1) ?? -1);
        results.push(written++);
        continue;
      }
      const template = step.template;
      let found: StoredTuple | undefined;
      await this.host.scan(space, template, async (t) => {
        if (removed.has(t.tid) || !template.matches(t.values)) return false;
        found = t;
        return true;
      });
      if (found) {
        args.push(step.op === 'inp' ? 'i' : 'r', found.tid, recordOf(found), finite(found.expiresAt) ?? '', key(k(`a:${template.arity}`)));
        if (step.op === 'inp') removed.add(found.tid);
        results.push(found);
        continue;
      }
      // The batch's own outs are newer than every tuple in Redis.
      let own = -1;
      for (let j = 0; j < written; j++) {
        if (!ownTaken.has(j) && outs[j]!.values.length === template.arity && template.matches(outs[j]!.values)) {
          own = j;
          break;
        }
      }
      if (own < 0) throw failed(i, steps);
      args.push(step.op === 'inp' ? 'I' : 'R', own + 1);
      if (step.op === 'inp') ownTaken.add(own);
      results.push(own);
    }
    return { keys, args, results };
  }

  private async applied(
    space: string, steps: BatchStep[], planned: (StoredTuple | number)[], outs: StoredTuple[], records: Buffer[], answer: number[],
  ): Promise<StoredTuple[]> {
    const wseq = answer[1]!;
    const written = outs.map((t, j) => storedTuple(answer[2 + 2 * j]!, String(answer[2 + 2 * j]!), space, t.values, t.expiresAt, records[j]!.length, t.hdr));
    const taken = new Set<number>();
    const results = planned.map((r, i) => {
      if (typeof r !== 'number') {
        if (steps[i]!.op === 'inp') this.host.taken(r);
        return r;
      }
      if (steps[i]!.op === 'inp') taken.add(r);
      return written[r]!;
    });
    // Answered once the tuples kept are handed over or visible, as an out: a read sent after the answer finds them.
    for (let j = 0; j < written.length; j++) {
      if (!taken.has(j) && answer[3 + 2 * j] === 1) await this.host.offer(space, written[j]!, records[j]!, wseq);
    }
    return results;
  }
}

function failed(step: number, steps: BatchStep[]): LindenError {
  return new LindenError('BATCH_FAILED', `batch step ${step} (${steps[step]?.op}) found no matching tuple; nothing was changed`, { step });
}
