import { LuaScript } from '../durable/lua-script.js';

/**
 * The atomic steps of replayable streams in cluster mode, one Lua script each (stream-keys.ts
 * names the keys). Appending is part of the durable queues' PUBLISH script
 * (durable/stream-scripts.ts), so a message is stored in its queues and streams, or in none.
 */

/**
 * Lua shared by the scripts: the head of a stream (seq, append time, payload bytes), dropping it,
 * and trimming by maxMessages/maxBytes and, at most `limit` messages, by maxAge.
 */
export const STREAM_LUA = `
local function headOf(key)
  local e = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)[1]
  if not e then return nil end
  local f = e[2]
  local t, b = 0, 0
  for i = 1, #f, 2 do
    if f[i] == 'p' then t = tonumber(f[i + 1]) elseif f[i] == 'd' then b = #f[i + 1] end
  end
  return tonumber(string.match(e[1], '^(%d+)')), t, b
end
local function dropHead(key, meta)
  local seq, _, b = headOf(key)
  if not seq then return false end
  redis.call('XDEL', key, string.format('%d-0', seq))
  redis.call('HINCRBY', meta, 'bytes', -b)
  return true
end
local function trimStream(key, meta, maxMessages, maxBytes, maxAge, now, limit)
  while true do
    local len = redis.call('XLEN', key)
    if len == 0 then
      redis.call('HSET', meta, 'bytes', 0)
      return false
    end
    local bytes = tonumber(redis.call('HGET', meta, 'bytes') or '0')
    if len > maxMessages or bytes > maxBytes then
      dropHead(key, meta)
    elseif maxAge > 0 then
      local _, t = headOf(key)
      if t > now - maxAge then return false end
      if limit <= 0 then return true end
      limit = limit - 1
      dropHead(key, meta)
    else
      return false
    end
  end
end
`;

/**
 * Creates a stream or changes its limits. KEYS: hash, version, data, meta. ARGV: name, pattern,
 * record JSON, mode, most streams, channel, maxMessages, maxBytes, maxAge, now. `create` returns
 * {'exists', record} when there is one (the caller merges the limits and puts); `put` writes the
 * record and applies tighter limits at once. {'conflict', record}: another pattern;
 * {'toomany'}: the cluster holds the most streams it may.
 */
export const CREATE_STREAM = new LuaScript(`${STREAM_LUA}
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then
  if cjson.decode(existing)['pattern'] ~= ARGV[2] then return {'conflict', existing} end
  if ARGV[4] ~= 'put' then return {'exists', existing} end
elseif redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[5]) then
  return {'toomany'}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSETNX', KEYS[4], 'next', 1)
redis.call('HSETNX', KEYS[4], 'bytes', 0)
redis.call('INCR', KEYS[2])
trimStream(KEYS[3], KEYS[4], tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), 1e15)
redis.call('PUBLISH', ARGV[6], ARGV[1])
return {'ok'}
`);

/** Deletes a stream with its messages and readers. KEYS: hash, version, data, meta, readers. ARGV: name, channel. -1: no such stream. */
export const DELETE_STREAM = new LuaScript(`
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return -1 end
redis.call('UNLINK', KEYS[3], KEYS[4], KEYS[5])
redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[2], ARGV[1])
return 1
`);

/**
 * Where a reader starts. KEYS: data, meta, readers. ARGV: start ('first', 'last', 'new', 'seq',
 * 'time'), its value, the reader's name ('' for none). A named reader with a stored position
 * starts there; a new one has its position stored here, in the same step. -1: no such stream.
 */
export const START_READER = new LuaScript(`${STREAM_LUA}
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
if ARGV[3] ~= '' then
  local stored = redis.call('HGET', KEYS[3], ARGV[3])
  if stored then return tonumber(stored) end
end
local nextSeq = tonumber(redis.call('HGET', KEYS[2], 'next'))
local first = headOf(KEYS[1]) or nextSeq
local pos
if ARGV[1] == 'first' then pos = first
elseif ARGV[1] == 'new' then pos = nextSeq
elseif ARGV[1] == 'last' then
  if redis.call('XLEN', KEYS[1]) > 0 then pos = nextSeq - 1 else pos = nextSeq end
elseif ARGV[1] == 'seq' then pos = math.max(tonumber(ARGV[2]), first)
else
  local time = tonumber(ARGV[2])
  local lo, hi = first, nextSeq
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local e = redis.call('XRANGE', KEYS[1], string.format('%d-0', mid), '+', 'COUNT', 1)[1]
    if not e then
      hi = mid
    else
      local t = 0
      for i = 1, #e[2], 2 do if e[2][i] == 'p' then t = tonumber(e[2][i + 1]) end end
      if t >= time then hi = mid else lo = tonumber(string.match(e[1], '^(%d+)')) + 1 end
    end
  end
  pos = lo
end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[3], ARGV[3], pos) end
return pos
`);

/** A named reader's acked position moves forward (never back), while the stream exists. KEYS: meta, readers. ARGV: reader, position. */
export const MOVE_READER = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local cur = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if tonumber(ARGV[2]) <= cur then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
`);

/**
 * What stream info shows, read in one step. KEYS: data, meta, readers, hash. ARGV: name. Reply
 * {record JSON, first, next, count, bytes, firstTime or -1, reader, pos, ...}; -1: no such stream.
 */
export const STREAM_INFO = new LuaScript(`${STREAM_LUA}
local record = redis.call('HGET', KEYS[4], ARGV[1])
if not record or redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
local nextSeq = tonumber(redis.call('HGET', KEYS[2], 'next'))
local seq, t = headOf(KEYS[1])
local out = {record, seq or nextSeq, nextSeq, redis.call('XLEN', KEYS[1]), tonumber(redis.call('HGET', KEYS[2], 'bytes') or '0'), t or -1}
for _, v in ipairs(redis.call('HGETALL', KEYS[3])) do out[#out + 1] = v end
return out
`);

/** maxAge: drops the messages older than it, at most ARGV[5]. KEYS: data, meta. ARGV: maxMessages, maxBytes, maxAge, now, limit. 1: more left. */
export const TRIM_AGED = new LuaScript(`${STREAM_LUA}
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
if trimStream(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])) then return 1 end
return 0
`);
