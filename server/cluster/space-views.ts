import type { Redis } from 'ioredis';
import { toJsonValue } from '../../protocol/json-data.js';
import type { SpaceDetail, SpaceView } from '../admin/views.js';
import { tupleOf } from './space-entries.js';
import { forgetSpace, spaceNames } from './space-registry.js';
import { spaceKey } from './space-scripts.js';

/*
 * The admin `spaces` and `space` views in cluster mode: the shapes of the local views
 * (admin/views.ts), read from Redis for the whole cluster (protocol.md §17.7). Redis keeps no
 * count of takes and no rates (each node counts its own), so `ins` and the rates read 0 there.
 */

/** Every space Redis holds something of, by name: one round trip for the names, one for all their counts. */
export async function clusterSpaceViews(redis: Redis): Promise<SpaceView[]> {
  const names = await spaceNames(redis);
  const views = await spaceViews(redis, names.map((n) => n.name));
  const held: SpaceView[] = [];
  for (let i = 0; i < names.length; i++) {
    const view = views[i]!;
    if (exists(view)) held.push(view);
    else void forgetSpace(redis, names[i]!.name, names[i]!.noted).catch(() => undefined);
  }
  return held.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * One space, or undefined when Redis holds nothing of it; `peek`: its N oldest tuples a template
 * could match now (visible, lease not over), read from the index of each arity up to `maxArity`.
 */
export async function clusterSpaceDetail(redis: Redis, name: string, maxArity: number, peek = 0): Promise<SpaceDetail | undefined> {
  const [view] = await spaceViews(redis, [name]);
  if (!exists(view!)) return undefined;
  const detail: SpaceDetail = view!;
  if (peek > 0) detail.peek = await oldest(redis, name, maxArity, peek);
  return detail;
}

function exists(v: SpaceView): boolean {
  return v.tuples + v.reserved + v.waiting + v.notify > 0;
}

/**
 * Per space: HLEN of `t` (every tuple held: visible, being offered to waiters, reserved), of `r`
 * (reserved) and of `wt` (waiters of every node), the notify subscriptions per node in `n`, the
 * write sequence `seq` (outs) and Redis's estimate of the memory `t` takes.
 */
async function spaceViews(redis: Redis, names: string[]): Promise<SpaceView[]> {
  if (names.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const name of names) {
    const k = (part: string) => spaceKey(name, part);
    pipeline.hlen(k('t')).hlen(k('r')).hlen(k('wt')).hvals(k('n')).get(k('seq')).memory('USAGE', k('t'), 'SAMPLES', 5);
  }
  const replies = (await pipeline.exec()) ?? [];
  for (const [err] of replies) if (err) throw err;
  return names.map((name, i) => {
    const [held, reserved, waiting, notify, seq, bytes] = replies.slice(6 * i, 6 * i + 6).map(([, v]) => v) as [number, number, number, string[], string | null, number | null];
    return {
      name,
      // Tuples live in Redis, whatever the space was asked (README "Running a cluster").
      persistent: true,
      tuples: Math.max(0, held - reserved),
      reserved,
      bytes: Number(bytes ?? 0),
      waiting,
      notify: notify.reduce((n, v) => n + Math.max(0, Number(v)), 0),
      outs: Number(seq ?? 0),
      ins: 0,
      outRate: 0,
      inRate: 0,
    };
  });
}

/** The `limit` oldest visible tuples whose lease is not over, over every arity's index. */
async function oldest(redis: Redis, name: string, maxArity: number, limit: number): Promise<NonNullable<SpaceDetail['peek']>> {
  const pipeline = redis.pipeline();
  // A few more than asked: some may have a lease over and not yet dropped.
  for (let arity = 1; arity <= maxArity; arity++) pipeline.zrange(spaceKey(name, `a:${arity}`), 0, limit * 2 - 1, 'WITHSCORES');
  const candidates: { tid: string; seq: number }[] = [];
  for (const [err, flat] of (await pipeline.exec()) ?? []) {
    if (err) throw err;
    const list = flat as string[];
    for (let i = 0; i < list.length; i += 2) candidates.push({ tid: list[i]!, seq: Number(list[i + 1]) });
  }
  candidates.sort((a, b) => a.seq - b.seq);
  const first = candidates.slice(0, limit * 2);
  if (first.length === 0) return [];
  const recs = await redis.hmgetBuffer(spaceKey(name, 't'), ...first.map((c) => c.tid));
  const now = Date.now();
  const out: NonNullable<SpaceDetail['peek']> = [];
  for (let i = 0; i < first.length && out.length < limit; i++) {
    const rec = recs[i];
    if (!rec) continue;
    const t = tupleOf(name, first[i]!.tid, first[i]!.seq, rec);
    if (t.expiresAt <= now) continue;
    out.push({ tid: t.tid, tuple: toJsonValue(t.values), expiresAt: Number.isFinite(t.expiresAt) ? t.expiresAt : null });
  }
  return out;
}
