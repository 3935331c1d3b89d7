-- Post an outage notice and publish it to every process, in one step.  Notices whose
-- expiry has passed are dropped first; at most ARGV[4] notices are in force at once.
-- KEYS[1] = notices hash   KEYS[2] = notices expiry zset   KEYS[3] = notice channel
-- ARGV[1] = notice id      ARGV[2] = notice (JSON)   ARGV[3] = now (ms)
-- ARGV[4] = most notices in force   ARGV[5] = expiry (ms, or '+inf')
-- ARGV[6] = the frame to publish
-- Returns {1, [expired ids...]}, or {0} when too many notices are in force.
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
for _, id in ipairs(gone) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return {0} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
redis.call('PUBLISH', KEYS[3], ARGV[6])
local reply = {1}
for _, id in ipairs(gone) do reply[#reply + 1] = id end
return reply
