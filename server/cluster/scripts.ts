/*
 * Lua run by Redis, so that a node's interest, its change counter and the notification of the
 * change move together: a node that loads a snapshot knows which notifications it already holds.
 */

/**
 * KEYS: nodes, own interest. ARGV: node, ttl, channel, changes JSON, then field/count pairs
 * (count 0 deletes). Bumps `#seq` and announces the changes with it.
 */
export const CHANGE = `
local seq = redis.call('HINCRBY', KEYS[2], '#seq', 1)
for i = 5, #ARGV, 2 do
  if ARGV[i + 1] == '0' then redis.call('HDEL', KEYS[2], ARGV[i]) else redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('SPUBLISH', ARGV[3], seq .. ' ' .. ARGV[1] .. ' ' .. ARGV[4])
return seq
`;

/** KEYS: nodes, own interest. ARGV: node, ttl, channel, then field/count pairs: the whole interest, replaced. */
export const REPLACE = `
local seq = redis.call('HINCRBY', KEYS[2], '#seq', 1)
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], '#seq', seq)
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2]), ARGV[1])
redis.call('SPUBLISH', ARGV[3], seq .. ' ' .. ARGV[1] .. ' *')
return seq
`;

/**
 * KEYS: nodes, own interest. ARGV: node, ttl, channel, interest key prefix. Renews this node,
 * forgets the nodes whose time ran out (announcing each) and returns '1' when this node was
 * still registered or '0' when it must write its interest again, then each live node with the
 * `#seq` of its interest: a node whose view of another lags it reloads it.
 */
export const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mine = redis.call('ZSCORE', KEYS[1], ARGV[1])
local known = (mine and tonumber(mine) > now) and '1' or '0'
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, node in ipairs(dead) do
  redis.call('ZREM', KEYS[1], node)
  redis.call('DEL', ARGV[4] .. node)
  redis.call('SPUBLISH', ARGV[3], '0 ' .. node .. ' -')
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
local reply = { known }
for _, node in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  table.insert(reply, node)
  table.insert(reply, redis.call('HGET', ARGV[4] .. node, '#seq') or '0')
end
return reply
`;

/** KEYS: nodes, own interest. ARGV: node, channel. A node that stops says so. */
export const LEAVE = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('SPUBLISH', ARGV[2], '0 ' .. ARGV[1] .. ' -')
return 1
`;
