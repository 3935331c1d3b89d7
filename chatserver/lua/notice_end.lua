-- End an outage notice and publish its end to every process, in one step.
-- KEYS[1] = notices hash   KEYS[2] = notices expiry zset   KEYS[3] = notice channel
-- ARGV[1] = notice id      ARGV[2] = the frame to publish
-- Returns the notice (JSON) it ended, or false if there was none with that id.
local notice = redis.call('HGET', KEYS[1], ARGV[1])
if not notice then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('PUBLISH', KEYS[3], ARGV[2])
return notice
