-- Forget one console connection.  With none left the agent stops receiving chats and their
-- offline grace period starts; they keep their chats until it ends.
-- Returns the number of connections left.
local conns_key = KEYS[1]          -- agent connections zset
local graces_key = KEYS[2]         -- graces zset
local available_key = KEYS[3]      -- available set
local presence_key = KEYS[4]       -- presence zset
local agent_id = ARGV[1]
local conn_id = ARGV[2]
local now = ARGV[3]                -- (ms)
local grace_end = ARGV[4]          -- (ms)

redis.call('ZREM', conns_key, conn_id)
redis.call('ZREMRANGEBYSCORE', conns_key, '-inf', now)
local left = redis.call('ZCARD', conns_key)
if left == 0 then
  redis.call('SREM', available_key, agent_id)
  redis.call('ZREM', presence_key, agent_id)
  redis.call('ZADD', graces_key, 'NX', grace_end, agent_id)
end
return left
