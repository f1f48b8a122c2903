/*
 * Tuple spaces in Redis. Every key of one space shares the hash tag `{ls:<space>}`, so its
 * scripts touch one slot. Per space:
 *   t          hash    tid -> packed TupleRecord ([values, expiresAt | null, hdr?])
 *   a:<arity>  zset    tid -> seq: the tuples `in`/`rd` may see, oldest first
 *   seq        string  the space's tuple sequence (the tid is the seq in decimal)
 *   w:<arity>  zset    waiter -> arrival seq: blocked `in`/`rd` of every node
 *   wt         hash    waiter -> packed [template, take]
 *   wseq       string  the arrival sequence of the space's waiters
 *   n          hash    node -> its notify subscriptions on the space: while it exists, the
 *              scripts announce out/in/expire on the sharded channel `events` (in the order
 *              Redis ran them) as `<o|i|e><tid> <record>`
 *   x          zset    `<arity>:<tid>` -> lease end (ms), for the sweep of the spaces watched by
 *              notify subscriptions (reads drop expired tuples anyway, lazily)
 *   e:<arity>:<position>:<value>  zset  tid -> seq: the visible tuples with that value there
 *              (canonicalKey; short values only), the equality index. Entries of tuples gone
 *              are dropped lazily, by the reads that meet them.
 *   r          hash    reservation id -> tid: tuples taken under reservation, kept in `t` but
 *              out of `a:<arity>` until settled; their ends are in RESERVATIONS_KEY (keys.ts)
 * A waiter is `<node>|<local id>`. A tuple written while waiters of its arity exist is in `t`
 * but not yet in `a:<arity>` (hidden): the writing node offers it to the waiters first, and
 * only then shows it, so a newer waiter cannot take it ahead of an older one.
 */

export function spaceKey(space: string, part: string): string {
  return `{ls:${space}}:${part}`;
}

/** Sharded channel of one node for tuples handed to its waiters. */
export function spaceChannel(node: string): string {
  return `linden:spaces:{${node}}`;
}

/** Lua shared by the scripts that change tuples: announces an event when the space has notify subscriptions. */
export const ANNOUNCE = `
local function announce(nkey, channel, kind, tid, rec)
  if redis.call('EXISTS', nkey) == 1 then redis.call('SPUBLISH', channel, kind .. tid .. ' ' .. rec) end
end
`;

/**
 * KEYS: t, a:<arity>, seq, w:<arity>, wseq, n, x, then its equality index keys. ARGV: packed
 * record, maxTuplesPerSpace, events channel, lease end ('' for none), arity.
 * Returns {seq, hidden, wseq} or {-1} when the space is full.
 */
export const SPACE_OUT = ANNOUNCE + `
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[2]) then return {-1} end
local seq = redis.call('INCR', KEYS[3])
local tid = tostring(seq)
redis.call('HSET', KEYS[1], tid, ARGV[1])
announce(KEYS[6], ARGV[3], 'o', tid, ARGV[1])
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[7], ARGV[4], ARGV[5] .. ':' .. tid) end
if redis.call('ZCARD', KEYS[4]) > 0 then
  return {seq, 1, tonumber(redis.call('GET', KEYS[5]) or '0')}
end
redis.call('ZADD', KEYS[2], seq, tid)
for i = 8, #KEYS do redis.call('ZADD', KEYS[i], seq, tid) end
return {seq, 0, 0}
`;

/**
 * KEYS: a:<arity>, t, then equality index keys a match must be in. ARGV: after seq (exclusive),
 * limit. Reads the smallest of the indexes (all are by seq, so pages may switch between them).
 * Returns {last seq looked at, 1 when there may be more, then tid, seq, record triples}, oldest first.
 */
export const SPACE_PAGE = `
local index = KEYS[1]
local best = -1
for i = 3, #KEYS do
  local n = redis.call('ZCARD', KEYS[i])
  if best < 0 or n < best then best = n; index = KEYS[i] end
end
local ids = redis.call('ZRANGEBYSCORE', index, '(' .. ARGV[1], '+inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {ids[#ids] or ARGV[1], (#ids == tonumber(ARGV[2]) * 2) and 1 or 0}
for i = 1, #ids, 2 do
  local tid = ids[i]
  if index == KEYS[1] or redis.call('ZSCORE', KEYS[1], tid) then
    local rec = redis.call('HGET', KEYS[2], tid)
    if rec then table.insert(out, tid); table.insert(out, ids[i + 1]); table.insert(out, rec) end
  elseif redis.call('HEXISTS', KEYS[2], tid) == 0 then
    redis.call('ZREM', index, tid)
  end
end
return out
`;

/**
 * KEYS: a:<arity>, t, n. ARGV: tid, events channel, 'i' (taken) or 'e' (expired). Removes a
 * visible tuple; its record, or nil when another took it first.
 */
export const SPACE_TAKE = ANNOUNCE + `
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return false end
local rec = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if rec then announce(KEYS[3], ARGV[2], ARGV[3], ARGV[1], rec) end
return rec
`;

/**
 * KEYS: a:<arity>, t, r. ARGV: tid, reservation id. Takes a visible tuple under reservation: it
 * leaves the index but stays in `t`, so a nack can show it where it was. Its record, or nil.
 */
export const SPACE_RESERVE = `
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return false end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
return redis.call('HGET', KEYS[2], ARGV[1])
`;

/**
 * KEYS: r, t, n. ARGV: reservation id, events channel. The ack of a reservation: the tuple goes for
 * good (an `in` event). 1, or 0 when the reservation was over already.
 */
export const SPACE_SETTLE = ANNOUNCE + `
local tid = redis.call('HGET', KEYS[1], ARGV[1])
if not tid then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
local rec = redis.call('HGET', KEYS[2], tid)
if rec then
  redis.call('HDEL', KEYS[2], tid)
  announce(KEYS[3], ARGV[2], 'i', tid, rec)
end
return 1
`;

/**
 * KEYS: r, t. ARGV: reservation id. The tuple of a reservation ending without ack: {tid, record}
 * (still hidden), {tid} when it ended meanwhile (cancel, lease), nil when the reservation is over.
 * The reservation stays until the claim or show that puts the tuple back removes it (their
 * `released` argument), so a node dying halfway leaves it to the sweep, and of two nodes putting
 * it back only one does.
 */
export const SPACE_RELEASE = `
local tid = redis.call('HGET', KEYS[1], ARGV[1])
if not tid then return false end
local rec = redis.call('HGET', KEYS[2], tid)
if rec then return {tid, rec} end
return {tid}
`;

/** KEYS: w:<arity>, wt, wseq. ARGV: waiter, packed template. Files a waiter; returns its arrival seq. */
export const SPACE_WAIT = `
local seq = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], seq, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return seq
`;

/** KEYS: w:<arity>, wt, wseq. Returns {wseq, waiter, template, ...} in arrival order. */
export const SPACE_WAITERS = `
local out = {tonumber(redis.call('GET', KEYS[3]) or '0')}
local ws = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, w in ipairs(ws) do
  table.insert(out, w)
  table.insert(out, redis.call('HGET', KEYS[2], w) or '')
end
return out
`;

/** KEYS: w:<arity>, wt. ARGV: waiter. Removes a waiter: 1 when it was still filed (whoever removes it serves it). */
export const SPACE_UNWAIT = `
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`;

/**
 * KEYS: w:<arity>, wt, t, a:<arity>, n, r. ARGV: waiter, tid, events channel, reservation id ('' for
 * none), released ('' or the reservation being put back, see SPACE_RELEASE). An `in` waiter
 * claims a tuple, hidden or visible: 1 when both were there (now both gone, or the tuple kept in
 * `t` under the waiter's reservation), 0 when the waiter was no longer filed, -1 when the tuple
 * (or the released reservation) was gone.
 */
export const SPACE_CLAIM = ANNOUNCE + `
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local rec = redis.call('HGET', KEYS[3], ARGV[2])
if not rec then return -1 end
if ARGV[5] ~= '' and redis.call('HDEL', KEYS[6], ARGV[5]) == 0 then return -1 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[2])
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[6], ARGV[4], ARGV[2])
  return 1
end
redis.call('HDEL', KEYS[3], ARGV[2])
announce(KEYS[5], ARGV[3], 'i', ARGV[2], rec)
return 1
`;

/**
 * KEYS: t, a:<arity>, wseq, r, then its equality index keys. ARGV: tid, seq, record, wseq seen,
 * restore, released ('' or the reservation being put back). Shows a hidden tuple: 1 done (or
 * the released reservation was put back by another), 0 when waiters came meanwhile (offer it to
 * them first). With restore '1' its record is written back (it was handed out and returned);
 * without, a tuple cancelled meanwhile stays gone.
 */
export const SPACE_SHOW = `
if ARGV[5] == '1' then redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
elseif redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 1 end
if ARGV[6] ~= '' and redis.call('HEXISTS', KEYS[4], ARGV[6]) == 0 then return 1 end
if tonumber(redis.call('GET', KEYS[3]) or '0') ~= tonumber(ARGV[4]) then return 0 end
if ARGV[6] ~= '' then redis.call('HDEL', KEYS[4], ARGV[6]) end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
for i = 5, #KEYS do redis.call('ZADD', KEYS[i], ARGV[2], ARGV[1]) end
return 1
`;

/**
 * KEYS: t, x. ARGV: tid, record read, new record, its lease end, arity. Replaces a record (a
 * renewal) unless it changed since it was read: 1, or 0.
 */
export const SPACE_REPLACE = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5] .. ':' .. ARGV[1])
return 1
`;

/**
 * KEYS: t, x, n. ARGV: now (ms), prefix of the a:<arity> keys, events channel. Ends the tuples
 * whose lease is over, announcing each; returns the next lease end, or -1.
 */
export const SPACE_SWEEP = ANNOUNCE + `
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, m in ipairs(due) do
  redis.call('ZREM', KEYS[2], m)
  local colon = string.find(m, ':', 1, true)
  local tid = string.sub(m, colon + 1)
  local rec = redis.call('HGET', KEYS[1], tid)
  if rec then
    redis.call('HDEL', KEYS[1], tid)
    redis.call('ZREM', ARGV[2] .. string.sub(m, 1, colon - 1), tid)
    announce(KEYS[3], ARGV[3], 'e', tid, rec)
  end
end
local nxt = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if #nxt == 0 then return -1 end
return tonumber(nxt[2])
`;

/** KEYS: t, a:<arity>, n. ARGV: tid, events channel. Ends a tuple, visible or hidden: 1, or 0 when it was gone. */
export const SPACE_CANCEL = ANNOUNCE + `
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
announce(KEYS[3], ARGV[2], 'e', ARGV[1], rec)
return 1
`;
