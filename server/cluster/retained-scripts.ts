/*
 * Retained messages of a cluster in Redis (issue 17). Every key shares the control plane's hash
 * tag `{linden}`, so each script touches one slot: the set of retained topics, one hash per
 * topic, the bytes they hold, a sequence, and the channel every node hears them on.
 */

/** Set of the topics holding a retained message. */
export const RETAINED_TOPICS_KEY = '{linden}:retained:topics';
/** Sequence of retained publishes and clears, cluster-wide: the order the channel carries them in. */
export const RETAINED_SEQ_KEY = '{linden}:retained:seq';
/** Bytes of all retained messages (payload plus topic), for maxRetainedBytes. */
export const RETAINED_BYTES_KEY = '{linden}:retained:bytes';
/** Sharded channel every node listens to: `<seq> <event>`, each retained publish or clear in sequence order. */
export const RETAINED_CHANNEL = '{linden}:retained:events';
const RECORD_PREFIX = '{linden}:retained:t:';

/** Hash of one topic's retained message: mid, data, hdr (JSON or ''), time, bytes, mode, seq. */
export function retainedKey(topic: string): string {
  return RECORD_PREFIX + topic;
}

/**
 * KEYS: topics, seq, bytes, record. ARGV: topic, mid, data, hdr, time, bytes, maxTopics,
 * maxBytes, channel, clear ('1' or '0'), event, mode. Checks the limits (a clear passes), keeps or
 * clears the record, and announces the event with its sequence number on the channel, all at
 * once: whatever a snapshot reads is before or after it, never half of it. Returns
 * {seq, ''} or {-1, <the limit passed>}.
 */
export const KEEP_RETAINED = `
local exists = redis.call('EXISTS', KEYS[4]) == 1
local old = 0
if exists then old = tonumber(redis.call('HGET', KEYS[4], 'bytes')) end
if ARGV[10] == '0' then
  if not exists and redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[7]) then return {-1, 'maxRetainedTopics'} end
  local total = tonumber(redis.call('GET', KEYS[3]) or '0')
  if total - old + tonumber(ARGV[6]) > tonumber(ARGV[8]) then return {-1, 'maxRetainedBytes'} end
end
local seq = redis.call('INCR', KEYS[2])
if ARGV[10] == '1' then
  if exists then
    redis.call('DEL', KEYS[4])
    redis.call('SREM', KEYS[1], ARGV[1])
    redis.call('DECRBY', KEYS[3], old)
  end
else
  redis.call('HSET', KEYS[4], 'mid', ARGV[2], 'data', ARGV[3], 'hdr', ARGV[4], 'time', ARGV[5], 'bytes', ARGV[6], 'mode', ARGV[12], 'seq', seq)
  redis.call('SADD', KEYS[1], ARGV[1])
  redis.call('INCRBY', KEYS[3], tonumber(ARGV[6]) - old)
end
redis.call('SPUBLISH', ARGV[9], seq .. ' ' .. ARGV[11])
return {seq, ''}
`;

/**
 * KEYS: topics, seq. ARGV: pattern (`*` one token, a trailing `>` one or more). Returns the
 * sequence number as of the read, then topic, mid, data, hdr, time, bytes, mode for each
 * retained message the pattern matches. The records are read under the same hash tag as KEYS.
 */
export const SNAPSHOT_RETAINED = `
local p = {}
for tok in string.gmatch(ARGV[1], '[^.]+') do p[#p + 1] = tok end
local function matches(topic)
  local t = {}
  for tok in string.gmatch(topic, '[^.]+') do t[#t + 1] = tok end
  for i = 1, #p do
    if p[i] == '>' then return #t >= i end
    if i > #t then return false end
    if p[i] ~= '*' and p[i] ~= t[i] then return false end
  end
  return #t == #p
end
local out = {redis.call('GET', KEYS[2]) or '0'}
for _, topic in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if matches(topic) then
    local r = redis.call('HMGET', '${RECORD_PREFIX}' .. topic, 'mid', 'data', 'hdr', 'time', 'bytes', 'mode')
    if r[1] then
      out[#out + 1] = topic
      for i = 1, 6 do out[#out + 1] = r[i] end
    end
  end
end
return out
`;
