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
 *   x          zset    `<arity>:<tid>` -> lease end (ms), for the sweeps: of every space when its
 *              next end (LEASES_KEY) is due, and on time for the spaces watched by notify
 *   e:<arity>:<position>:<value>  zset  tid -> seq: the visible tuples with that value there
 *              (canonicalKey; short values only), the equality index. Entries of tuples gone
 *              are dropped lazily, by the reads that meet them.
 *   r          hash    reservation id -> tid: tuples taken under reservation, kept in `t` but
 *              out of `a:<arity>` until settled; their ends are in RESERVATIONS_KEY (keys.ts)
 * A waiter is `<node>|<local id>`. A tuple written while waiters of its arity exist is in `t`
 * but not yet in `a:<arity>` (hidden): the writing node offers it to the waiters first, and
 * only then shows it, so a newer waiter cannot take it ahead of an older one.
 *
 * Besides the space's own keys, the scripts keep the cluster-wide ones of keys.ts up to date in
 * the same step: the bytes of all records (SPACE_BYTES_KEY), each space's next lease end
 * (LEASES_KEY), the offers under way (OFFERS_KEY) and the claims of tuples handed to a waiter's
 * node (RESERVATIONS_KEY), so a node dying between two steps leaves nothing the sweeps miss.
 * (One Redis, not a Redis Cluster: these keys are in other slots than the space's.)
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
local function held(bkey, n)
  if n ~= 0 then redis.call('INCRBY', bkey, n) end
end
`;

/**
 * KEYS: t, a:<arity>, seq, w:<arity>, wseq, n, x, bytes, leases, offers, then its equality index
 * keys. ARGV: packed record, maxTuplesPerSpace, events channel, lease end ('' for none), arity,
 * maxSpaceBytesTotal, space, offer deadline. Returns {seq, hidden, wseq}, {-1} when the space is
 * full or {-2, bytes held} when all spaces hold too many bytes.
 */
export const SPACE_OUT = ANNOUNCE + `
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[2]) then return {-1} end
local bytes = tonumber(redis.call('GET', KEYS[8]) or '0')
if bytes + #ARGV[1] > tonumber(ARGV[6]) then return {-2, bytes} end
local seq = redis.call('INCR', KEYS[3])
local tid = tostring(seq)
redis.call('HSET', KEYS[1], tid, ARGV[1])
held(KEYS[8], #ARGV[1])
announce(KEYS[6], ARGV[3], 'o', tid, ARGV[1])
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[7], ARGV[4], ARGV[5] .. ':' .. tid)
  redis.call('ZADD', KEYS[9], 'LT', ARGV[4], ARGV[7])
end
if redis.call('ZCARD', KEYS[4]) > 0 then
  redis.call('ZADD', KEYS[10], ARGV[8], tid .. ' ' .. ARGV[7])
  return {seq, 1, tonumber(redis.call('GET', KEYS[5]) or '0')}
end
redis.call('ZADD', KEYS[2], seq, tid)
for i = 11, #KEYS do redis.call('ZADD', KEYS[i], seq, tid) end
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
 * KEYS: a:<arity>, t, n, bytes. ARGV: tid, events channel, 'i' (taken) or 'e' (expired). Removes a
 * visible tuple; its record, or nil when another took it first.
 */
export const SPACE_TAKE = ANNOUNCE + `
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return false end
local rec = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if rec then
  held(KEYS[4], -#rec)
  announce(KEYS[3], ARGV[2], ARGV[3], ARGV[1], rec)
end
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
 * KEYS: r, t, n, bytes. ARGV: reservation id, events channel, '1' when its `in` event was
 * announced already (a hand-off's, by its claim). The ack of a reservation (or the end of a
 * hand-off): the tuple goes for good (an `in` event). 1, or 0 when the reservation was over already.
 */
export const SPACE_SETTLE = ANNOUNCE + `
local tid = redis.call('HGET', KEYS[1], ARGV[1])
if not tid then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
local rec = redis.call('HGET', KEYS[2], tid)
if rec then
  redis.call('HDEL', KEYS[2], tid)
  held(KEYS[4], -#rec)
  if ARGV[3] ~= '1' then announce(KEYS[3], ARGV[2], 'i', tid, rec) end
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

/**
 * KEYS: w:<arity>, wt, wseq. ARGV: waiter, packed template. Files a waiter; returns its arrival
 * seq, or 0 when it is filed already (filed again after its node resubscribed: it keeps its turn).
 */
export const SPACE_WAIT = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
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
 * KEYS: w:<arity>, wt, channel of the waiter's node. ARGV: waiter, packed hand-over. A `rd`
 * waiter's copy, sent in the step that ends its wait: 1, or 0 when the waiter was no longer filed
 * (or its node no longer listens; then it is dropped, and filed again if the node comes back).
 */
export const SPACE_COPY = `
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
return redis.call('SPUBLISH', KEYS[3], ARGV[2]) > 0 and 1 or 0
`;

/**
 * KEYS: w:<arity>, wt, t, a:<arity>, n, r, offers, reservations, channel of the waiter's node,
 * bytes. ARGV: waiter, tid, events channel, claim id ('' to take the tuple for good at once),
 * released ('' or the reservation being put back, see SPACE_RELEASE), space, the claim's end,
 * packed hand-over ('' when the waiter is this node's: it serves it itself), '1' when the claim
 * is a hand-off's (its `in` event is announced now, in the order the take happened, not when the
 * waiter's node ends it).
 * An `in` waiter claims a tuple that is visible, offered (OFFERS_KEY) or being put back, and
 * the tuple goes to the waiter's node in the same step. Under a claim id the tuple stays in `t`,
 * out of the index, its claim in `r` and its end in `reservations` (as a reservation), until
 * the waiter's node ends it (SPACE_SETTLE) once served, or puts it back; so a node dying at
 * any point leaves the tuple to the sweep. 1 when claimed, 0 when the waiter was no longer
 * filed, -1 when the tuple was no longer to be had, -2 when the waiter's node does not listen
 * (the waiter is dropped; the node files it again when it listens again).
 */
export const SPACE_CLAIM = ANNOUNCE + `
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local rec = redis.call('HGET', KEYS[3], ARGV[2])
if not rec then return -1 end
local offered = ARGV[2] .. ' ' .. ARGV[6]
if ARGV[5] ~= '' then
  if redis.call('HEXISTS', KEYS[6], ARGV[5]) == 0 then return -1 end
elseif not redis.call('ZSCORE', KEYS[4], ARGV[2]) and not redis.call('ZSCORE', KEYS[7], offered) then
  return -1
end
if ARGV[8] ~= '' and redis.call('SPUBLISH', KEYS[9], ARGV[8]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return -2
end
if ARGV[5] ~= '' then redis.call('HDEL', KEYS[6], ARGV[5]) end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('ZREM', KEYS[7], offered)
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[6], ARGV[4], ARGV[2])
  redis.call('ZADD', KEYS[8], 'GT', ARGV[7], ARGV[4] .. ' ' .. ARGV[6])
  if ARGV[9] == '1' then announce(KEYS[5], ARGV[3], 'i', ARGV[2], rec) end
  return 1
end
redis.call('HDEL', KEYS[3], ARGV[2])
held(KEYS[10], -#rec)
announce(KEYS[5], ARGV[3], 'i', ARGV[2], rec)
return 1
`;

/**
 * KEYS: offers, t. ARGV: `<tid> <space>`, now, new deadline, tid. Takes over a due offer (its
 * node died, or is late): the tuple's record, with the deadline moved on so that one node
 * offers it, or nil (not due, or the tuple is gone: then the entry goes).
 */
export const SPACE_REOFFER = `
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due or tonumber(due) > tonumber(ARGV[2]) then return false end
local rec = redis.call('HGET', KEYS[2], ARGV[4])
if not rec then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return false
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return rec
`;

/**
 * KEYS: t, a:<arity>, wseq, r, offers, bytes, then its equality index keys. ARGV: tid, seq,
 * record, wseq seen, restore, released ('' or the reservation being put back), space, offer
 * deadline. Shows a hidden tuple: 1 done (or shown, claimed or put back by another), 0 when
 * waiters came meanwhile (offer it to them first). With restore '1' its record is written back
 * (it was handed out and returned) and it is offered again (0); without, a tuple cancelled
 * meanwhile stays gone.
 */
export const SPACE_SHOW = ANNOUNCE + `
local offered = ARGV[1] .. ' ' .. ARGV[7]
if ARGV[5] == '1' then
  local old = redis.call('HGET', KEYS[1], ARGV[1])
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  held(KEYS[6], #ARGV[3] - (old and #old or 0))
  redis.call('ZADD', KEYS[5], ARGV[8], offered)
  return 0
end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  redis.call('ZREM', KEYS[5], offered)
  return 1
end
if ARGV[6] ~= '' then
  if redis.call('HEXISTS', KEYS[4], ARGV[6]) == 0 then return 1 end
elseif not redis.call('ZSCORE', KEYS[5], offered) then
  return 1
end
if tonumber(redis.call('GET', KEYS[3]) or '0') ~= tonumber(ARGV[4]) then return 0 end
if ARGV[6] ~= '' then redis.call('HDEL', KEYS[4], ARGV[6]) end
redis.call('ZREM', KEYS[5], offered)
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
for i = 7, #KEYS do redis.call('ZADD', KEYS[i], ARGV[2], ARGV[1]) end
return 1
`;

/**
 * KEYS: t, x, bytes, leases. ARGV: tid, record read, new record, its lease end, arity, space.
 * Replaces a record (a renewal) unless it changed since it was read: 1, or 0.
 */
export const SPACE_REPLACE = ANNOUNCE + `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
held(KEYS[3], #ARGV[3] - #ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5] .. ':' .. ARGV[1])
redis.call('ZADD', KEYS[4], 'LT', ARGV[4], ARGV[6])
return 1
`;

/**
 * KEYS: t, x, n, bytes, leases. ARGV: now (ms), prefix of the a:<arity> keys, events channel,
 * space, '1' to sweep only when the space is due in `leases` (the cluster-wide sweep: one node
 * per due entry). Ends the tuples whose lease is over, announcing each, and files the space's
 * next lease end in `leases`; returns it, -1 when none, -2 when not due.
 */
export const SPACE_SWEEP = ANNOUNCE + `
if ARGV[5] == '1' then
  local at = redis.call('ZSCORE', KEYS[5], ARGV[4])
  if not at or tonumber(at) > tonumber(ARGV[1]) then return -2 end
end
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, m in ipairs(due) do
  redis.call('ZREM', KEYS[2], m)
  local colon = string.find(m, ':', 1, true)
  local tid = string.sub(m, colon + 1)
  local rec = redis.call('HGET', KEYS[1], tid)
  if rec then
    redis.call('HDEL', KEYS[1], tid)
    held(KEYS[4], -#rec)
    redis.call('ZREM', ARGV[2] .. string.sub(m, 1, colon - 1), tid)
    announce(KEYS[3], ARGV[3], 'e', tid, rec)
  end
end
local nxt = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if #nxt == 0 then
  redis.call('ZREM', KEYS[5], ARGV[4])
  return -1
end
redis.call('ZADD', KEYS[5], nxt[2], ARGV[4])
return tonumber(nxt[2])
`;

/** KEYS: t, a:<arity>, n, bytes. ARGV: tid, events channel. Ends a tuple, visible or hidden: 1, or 0 when it was gone. */
export const SPACE_CANCEL = ANNOUNCE + `
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
held(KEYS[4], -#rec)
redis.call('ZREM', KEYS[2], ARGV[1])
announce(KEYS[3], ARGV[2], 'e', ARGV[1], rec)
return 1
`;
