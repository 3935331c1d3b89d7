-- Presence sweeper for one visitor whose newest connection expiry has passed (its process
-- died or stopped heartbeating): drop the expired connections.  With none left the visitor
-- left when the last one expired, and counts as gone ARGV[3] ms later (marked only if
-- they have an open chat).  (core/presence.py: sweep)
-- KEYS[1] = visitor connections zset   KEYS[2] = visitor presence zset
-- KEYS[3] = visitors gone zset         KEYS[4] = visitor hash
-- ARGV[1] = visitor id   ARGV[2] = now (ms)   ARGV[3] = grace (ms)
-- Returns 'present' or 'left'.
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if newest[2] and tonumber(newest[2]) > tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[2], newest[2], ARGV[1])
  return 'present'
end
redis.call('ZREM', KEYS[2], ARGV[1])
-- a connections key that expired by itself (no sweeper ran for that long: every process
-- was down) leaves no time: the visitor counts as having left now
local left_at = tonumber(ARGV[2])
if newest[2] then left_at = tonumber(newest[2]) end
if redis.call('HGET', KEYS[4], 'chat') then
  redis.call('ZADD', KEYS[3], 'GT', left_at + tonumber(ARGV[3]), ARGV[1])
end
return 'left'
