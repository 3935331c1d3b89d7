-- Presence sweeper for one agent whose newest connection expiry has passed (its process
-- died or stopped heartbeating): drop expired connections and start the grace period.
-- When grace_due is '1' the grace period is checked too: an agent with no connection whose
-- grace has ended goes to the grace_to status (chatserver/core/agent_presence.py), and the
-- caller re-queues their chats.
-- Returns 'present', 'grace' or 'offline'.
local agent_key = KEYS[1]          -- agent hash
local conns_key = KEYS[2]          -- agent connections zset
local presence_key = KEYS[3]       -- presence zset
local graces_key = KEYS[4]         -- graces zset
local available_key = KEYS[5]      -- available set
local status_log_key = KEYS[6]     -- status log stream
local agent_id = ARGV[1]
local now = ARGV[2]                -- (ms)
local grace_end = ARGV[3]          -- (ms)
local grace_due = ARGV[4]           -- '1': check the grace period too
local grace_to = ARGV[5]           -- the status at the end of the grace period

redis.call('ZREMRANGEBYSCORE', conns_key, '-inf', now)
local newest = redis.call('ZRANGE', conns_key, -1, -1, 'WITHSCORES')
if newest[2] then
  redis.call('ZADD', presence_key, newest[2], agent_id)
  redis.call('ZREM', graces_key, agent_id)
  return 'present'
end
redis.call('ZREM', presence_key, agent_id)
redis.call('SREM', available_key, agent_id)
if grace_due == '1' then
  redis.call('ZREM', graces_key, agent_id)
  if redis.call('HGET', agent_key, 'status') ~= grace_to then
    redis.call('XADD', status_log_key, '*', 'agent', agent_id, 'status', grace_to, 'ts', now)
  end
  redis.call('HSET', agent_key, 'status', grace_to, 'status_at', now)
  return 'offline'
end
redis.call('ZADD', graces_key, 'NX', grace_end, agent_id)
return 'grace'
