-- Forget one console connection.  With none left the agent stops receiving chats and their
-- offline grace period starts; they keep their chats until it ends.
-- KEYS[1] = agent connections zset   KEYS[2] = graces zset   KEYS[3] = available set
-- KEYS[4] = presence zset
-- ARGV[1] = agent id   ARGV[2] = connection id   ARGV[3] = now (ms)   ARGV[4] = grace end (ms)
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
