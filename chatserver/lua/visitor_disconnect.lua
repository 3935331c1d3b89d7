-- Forget one socket of a visitor.  With no live one left (on any process) the visitor has
-- left now, and counts as gone at ARGV[4] unless a socket opens before (marked only if
-- they have an open chat: nothing else ends).  (core/presence.py: disconnect)
-- KEYS[1] = visitor connections zset   KEYS[2] = visitor presence zset
-- KEYS[3] = visitors gone zset         KEYS[4] = visitor hash
-- ARGV[1] = visitor id   ARGV[2] = connection id   ARGV[3] = now (ms)
-- ARGV[4] = gone at (ms): now + grace
-- Returns the number of live connections left.
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local left = redis.call('ZCARD', KEYS[1])
if left == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  if redis.call('HGET', KEYS[4], 'chat') then
    redis.call('ZADD', KEYS[3], 'GT', ARGV[4], ARGV[1])
  end
else
  -- the sweeper's index follows the newest connection left (the closed one may have been
  -- the newest): a process that dies holding the others is noticed at their expiry
  local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  redis.call('ZADD', KEYS[2], newest[2], ARGV[1])
end
return left
