-- Presence sweeper for one agent whose newest connection expiry has passed (its process
-- died or stopped heartbeating): drop expired connections and start the grace period.
-- When ARGV[4] is '1' the grace period is checked too: an agent with no connection whose
-- grace has ended goes offline, and the caller re-queues their chats.
local agent_key = KEYS[1]      -- agent hash
local conns_key = KEYS[2]      -- agent connections zset
local presence_key = KEYS[3]   -- presence zset
local graces_key = KEYS[4]     -- graces zset
local available_key = KEYS[5]  -- available set
local status_log_key = KEYS[6] -- status log stream
local agent_id = ARGV[1]
local now = ARGV[2]            -- ms
local grace_end = ARGV[3]      -- ms
local grace_due = ARGV[4]      -- '1' = the grace period is checked too
-- Returns 'present', 'grace' or 'offline'.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
local newest = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if newest[2] then
  redis.call('ZADD', KEYS[3], newest[2], ARGV[1])
  redis.call('ZREM', KEYS[4], ARGV[1])
  return 'present'
end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[5], ARGV[1])
if ARGV[4] == '1' then
  redis.call('ZREM', KEYS[4], ARGV[1])
  if redis.call('HGET', KEYS[1], 'status') ~= 'offline' then
    redis.call('XADD', KEYS[6], '*', 'agent', ARGV[1], 'status', 'offline', 'ts', ARGV[2])
  end
  redis.call('HSET', KEYS[1], 'status', 'offline', 'status_at', ARGV[2])
  return 'offline'
end
redis.call('ZADD', KEYS[4], 'NX', ARGV[3], ARGV[1])
return 'grace'
