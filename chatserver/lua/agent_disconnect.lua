-- Forget one console connection.  With none left the agent stops receiving chats and their
-- offline grace period starts; they keep their chats until it ends.
local conns_key = KEYS[1]      -- agent connections zset
local graces_key = KEYS[2]     -- graces zset
local available_key = KEYS[3]  -- available set
local presence_key = KEYS[4]   -- presence zset
local agent_id = ARGV[1]
local conn_id = ARGV[2]
local now = ARGV[3]            -- ms
local grace_end = ARGV[4]      -- ms
-- Returns the number of connections left.
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local left = redis.call('ZCARD', KEYS[1])
if left == 0 then
  redis.call('SREM', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[4], ARGV[1])
  redis.call('ZADD', KEYS[2], 'NX', ARGV[4], ARGV[1])
end
return left
