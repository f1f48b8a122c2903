import { LuaScript } from './lua-script.js';
import { STREAM_LUA } from '../streams/stream-scripts.js';
import type { QueueDefinition } from './queue-directory.js';

/**
 * The atomic steps of cluster-mode durable queues, one Lua script each (redis-keys.ts names the
 * keys). A script runs whole or not at all as far as other clients see, and its reply comes
 * after Redis's fsync of it with `appendfsync always`.
 */

/**
 * Declares a queue. KEYS: hash, version, stream. ARGV: name, record JSON, mode, channel.
 * `create` returns the existing record if there is one (the caller compares it) and changes
 * nothing; `put` writes the record whatever is there (new settings). A new queue gets its stream
 * and consumer group from the start (id 0: the group reads everything ever added).
 */
export const DECLARE = new LuaScript(`
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing and ARGV[3] ~= 'put' then return existing end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('INCR', KEYS[2])
redis.pcall('XGROUP', 'CREATE', KEYS[3], 'linden', '0', 'MKSTREAM')
redis.call('PUBLISH', ARGV[4], ARGV[1])
return false
`);

/** Deletes a queue and its stream. KEYS: hash, version, stream. ARGV: name, channel. Returns the entries dropped, or -1 if there was no queue. */
export const REMOVE = new LuaScript(`
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return -1 end
local dropped = redis.call('XLEN', KEYS[3])
redis.call('DEL', KEYS[3])
redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[2], ARGV[1])
return dropped
`);

/**
 * A persistent publish. KEYS: version, mid key, streams version, one stream per matching queue,
 * then per matching replayable stream its data and meta keys (streams/stream-keys.ts). ARGV:
 * version routed by, '1' to dedupe by mid, dedupe window ms, the seven entry fields
 * (stream-entry.ts), streams version routed by, number of queues, now, then per queue its
 * maxMessages and overflow ('r' reject, 'd' drop oldest), then per stream its maxMessages,
 * maxBytes, discard ('o' old, 'n' new) and maxAge.
 * Replies {'stale', version} when the queues or streams changed since the caller routed (it
 * reloads and routes again), {'dup'} for a mid inside the window, {'sfull', j, why} when stream j
 * refuses, {'full', i} when queue i refuses (in that order, as on one broker; nothing stored), else
 * {'ok', id..., seq...}: stored in every queue and appended to every stream (seq `next`, time
 * now, trimmed by its limits), or nowhere.
 */
export const PUBLISH = new LuaScript(`${STREAM_LUA}
local version = redis.call('GET', KEYS[1]) or '0'
if version ~= ARGV[1] then return {'stale', version} end
local sversion = redis.call('GET', KEYS[3]) or '0'
if sversion ~= ARGV[11] then return {'stale', sversion} end
local nq = tonumber(ARGV[12])
local now = tonumber(ARGV[13])
local ns = (#KEYS - 3 - nq) / 2
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return {'dup'} end
local size = #ARGV[6]
for j = 1, ns do
  local b = 14 + 2 * nq + 4 * (j - 1)
  local data, meta = KEYS[2 + nq + 2 * j], KEYS[3 + nq + 2 * j]
  if redis.call('EXISTS', meta) == 0 then return {'stale', sversion} end
  local maxMessages, maxBytes, maxAge = tonumber(ARGV[b]), tonumber(ARGV[b + 1]), tonumber(ARGV[b + 3])
  if size > maxBytes then return {'sfull', tostring(j), 'a message of ' .. size .. ' bytes is larger than its maxBytes ' .. ARGV[b + 1]} end
  if ARGV[b + 2] == 'n' then
    local len = redis.call('XLEN', data)
    local aged = false
    if maxAge > 0 and len > 0 then
      local _, t = headOf(data)
      aged = t <= now - maxAge
    end
    if not aged then
      local bytes = tonumber(redis.call('HGET', meta, 'bytes') or '0')
      if len + 1 > maxMessages then return {'sfull', tostring(j), 'it holds maxMessages ' .. ARGV[b]} end
      if bytes + size > maxBytes then return {'sfull', tostring(j), bytes .. ' bytes + ' .. size .. ' would pass maxBytes ' .. ARGV[b + 1]} end
    end
  end
end
for i = 1, nq do
  if ARGV[13 + 2 * i] == 'r' and redis.call('XLEN', KEYS[3 + i]) >= tonumber(ARGV[12 + 2 * i]) then return {'full', tostring(i)} end
end
-- Not there (checked above, and the script runs alone): the mid is taken now.
if ARGV[2] == '1' then redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) end
local ids = {'ok'}
for i = 1, nq do
  ids[i + 1] = redis.call('XADD', KEYS[3 + i], 'MAXLEN', ARGV[12 + 2 * i], '*',
    't', ARGV[4], 'm', ARGV[5], 'd', ARGV[6], 'h', ARGV[7], 'p', ARGV[8], 'x', ARGV[9], 'o', ARGV[10])
end
for j = 1, ns do
  local b = 14 + 2 * nq + 4 * (j - 1)
  local data, meta = KEYS[2 + nq + 2 * j], KEYS[3 + nq + 2 * j]
  local seq = redis.call('HINCRBY', meta, 'next', 1) - 1
  redis.call('XADD', data, string.format('%d-0', seq), 't', ARGV[4], 'm', ARGV[5], 'd', ARGV[6], 'h', ARGV[7], 'p', ARGV[13])
  redis.call('HINCRBY', meta, 'bytes', size)
  trimStream(data, meta, tonumber(ARGV[b]), tonumber(ARGV[b + 1]), tonumber(ARGV[b + 3]), now, 1000)
  ids[#ids + 1] = seq
end
return ids
`);

/**
 * Moves an entry to the dead-letter queue, creating that queue on first use. KEYS: stream, dlq
 * stream, hash, version. ARGV: entry id, dlq name, dlq record JSON, channel. Returns 0 when the
 * entry is no longer there (trimmed, or acked meanwhile): it is only taken off the pending list.
 */
export const DEAD_LETTER = new LuaScript(`
local entry = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
redis.call('XACK', KEYS[1], 'linden', ARGV[1])
if #entry == 0 then return 0 end
redis.call('XDEL', KEYS[1], ARGV[1])
if redis.call('HSETNX', KEYS[3], ARGV[2], ARGV[3]) == 1 then
  redis.call('INCR', KEYS[4])
  redis.call('PUBLISH', ARGV[4], ARGV[2])
end
redis.call('XADD', KEYS[2], '*', unpack(entry[1][2]))
redis.pcall('XGROUP', 'CREATE', KEYS[2], 'linden', '0')
return 1
`);

/** Acknowledges an entry: off the pending list and out of the stream. KEYS: stream. ARGV: id. */
export const ACK = new LuaScript(`
redis.call('XACK', KEYS[1], 'linden', ARGV[1])
return redis.call('XDEL', KEYS[1], ARGV[1])
`);

/**
 * Forgets the group's consumers (nodes) that hold nothing and have not read for ARGV[1] ms:
 * every broker start is a new consumer, and dead ones would pile up. Checked and deleted in one
 * step, so a consumer that reads meanwhile cannot lose pending entries. KEYS: stream.
 */
export const REAP = new LuaScript(`
local consumers = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], 'linden')
if consumers.err then return 0 end
local reaped = 0
for _, c in ipairs(consumers) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['pending'] == 0 and f['idle'] >= tonumber(ARGV[1]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], 'linden', f['name'])
    reaped = reaped + 1
  end
end
return reaped
`);

/**
 * The ids a stream's group holds pending, as a Lua set `pending` (shared by PURGE and RETRY):
 * an entry in the stream and not pending is ready (acked entries are deleted). No group or no
 * stream: nothing pending.
 */
const PENDING_SET = `
local function pendingSet(key)
  local set = {}
  local summary = redis.pcall('XPENDING', key, 'linden')
  if type(summary) ~= 'table' or summary.err or summary[1] == 0 then return set end
  for _, e in ipairs(redis.call('XPENDING', key, 'linden', '-', '+', summary[1])) do set[e[1]] = true end
  return set
end
`;

/**
 * Admin `purge`: deletes the entries of a stream that are not pending (ready), page by page in
 * one script, so no delivery starts in between. KEYS: stream. Returns how many went.
 */
export const PURGE = new LuaScript(`${PENDING_SET}
local pending = pendingSet(KEYS[1])
local purged = 0
local from = '-'
while true do
  local page = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', 500)
  local ids = {}
  for _, e in ipairs(page) do if not pending[e[1]] then ids[#ids + 1] = e[1] end end
  if #ids > 0 then purged = purged + redis.call('XDEL', KEYS[1], unpack(ids)) end
  if #page < 500 then return purged end
  from = '(' .. page[#page][1]
end
`);

/**
 * Admin `retry`: moves the ready entries of the dead-letter stream back to the queue's, oldest
 * first, while the queue has room under its maxMessages (nothing is dropped to make room). Each
 * is a new entry at the back (delivery count 0) with no publisher waiting (origin ''), and is
 * deleted from the dead letters in the same script, so it is in exactly one of them. KEYS: queue
 * stream, dlq stream. ARGV: the queue's maxMessages. Returns {moved, remaining ready}.
 */
export const RETRY = new LuaScript(`${PENDING_SET}
local pending = pendingSet(KEYS[2])
local room = tonumber(ARGV[1]) - redis.call('XLEN', KEYS[1])
local moved, remaining = 0, 0
local from = '-'
while true do
  local page = redis.call('XRANGE', KEYS[2], from, '+', 'COUNT', 500)
  for _, e in ipairs(page) do
    if not pending[e[1]] then
      if moved < room then
        local fields = e[2]
        for i = 1, #fields, 2 do if fields[i] == 'o' then fields[i + 1] = '' end end
        redis.call('XADD', KEYS[1], '*', unpack(fields))
        redis.call('XDEL', KEYS[2], e[1])
        moved = moved + 1
      else
        remaining = remaining + 1
      end
    end
  end
  if #page < 500 then return {moved, remaining} end
  from = '(' .. page[#page][1]
end
`);

/** Per matching queue, what PUBLISH needs to decide whether it takes the message. */
export function publishArgs(queues: readonly QueueDefinition[]): string[] {
  return queues.flatMap((q) => [String(q.config.maxMessages), q.config.overflow === 'reject' ? 'r' : 'd']);
}

/** Per matching replayable stream, what PUBLISH needs to decide whether and how it appends. */
export function streamPublishArgs(streams: readonly { config: { maxMessages: number; maxBytes: number; discard: string; maxAge: number } }[]): string[] {
  return streams.flatMap((s) => [String(s.config.maxMessages), String(s.config.maxBytes), s.config.discard === 'new' ? 'n' : 'o', String(s.config.maxAge)]);
}
