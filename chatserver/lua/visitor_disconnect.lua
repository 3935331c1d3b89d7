-- Forget one socket of a visitor.  With no live one left (on any process) the visitor has
-- left now, and counts as gone at `gone_at` unless a socket opens before (marked only if
-- they have an open chat: nothing else ends).  (core/presence.py: disconnect)
local conns_key = KEYS[1]      -- visitor connections zset
local presence_key = KEYS[2]   -- visitor presence zset
local gone_key = KEYS[3]       -- visitors gone zset
local visitor_key = KEYS[4]    -- visitor hash
local visitor_id = ARGV[1]
local conn_id = ARGV[2]
local now = ARGV[3]            -- ms
local gone_at = ARGV[4]        -- ms: now + grace
-- Returns the number of live connections left.
redis.call('ZREM', conns_key, conn_id)
redis.call('ZREMRANGEBYSCORE', conns_key, '-inf', now)
local left = redis.call('ZCARD', conns_key)
if left == 0 then
  redis.call('DEL', conns_key)
  redis.call('ZREM', presence_key, visitor_id)
  if redis.call('HGET', visitor_key, 'chat') then
    redis.call('ZADD', gone_key, 'GT', gone_at, visitor_id)
  end
else
  -- the sweeper's index follows the newest connection left (the closed one may have been
  -- the newest): a process that dies holding the others is noticed at their expiry
  local newest = redis.call('ZRANGE', conns_key, -1, -1, 'WITHSCORES')
  redis.call('ZADD', presence_key, newest[2], visitor_id)
end
return left
