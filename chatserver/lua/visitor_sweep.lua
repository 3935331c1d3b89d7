-- Presence sweeper for one visitor whose newest connection expiry has passed (its process
-- died or stopped heartbeating): drop the expired connections.  With none left the visitor
-- left when the last one expired, and counts as gone `grace` ms later (marked only if
-- they have an open chat).  (core/presence.py: sweep)
local conns_key = KEYS[1]      -- visitor connections zset
local presence_key = KEYS[2]   -- visitor presence zset
local gone_key = KEYS[3]       -- visitors gone zset
local visitor_key = KEYS[4]    -- visitor hash
local visitor_id = ARGV[1]
local now = ARGV[2]            -- ms
local grace = tonumber(ARGV[3])   -- ms
-- Returns 'present' or 'left'.
local newest = redis.call('ZRANGE', conns_key, -1, -1, 'WITHSCORES')
redis.call('ZREMRANGEBYSCORE', conns_key, '-inf', now)
if newest[2] and tonumber(newest[2]) > tonumber(now) then
  redis.call('ZADD', presence_key, newest[2], visitor_id)
  return 'present'
end
redis.call('ZREM', presence_key, visitor_id)
-- a connections key that expired by itself (no sweeper ran for that long: every process
-- was down) leaves no time: the visitor counts as having left now
local left_at = tonumber(now)
if newest[2] then left_at = tonumber(newest[2]) end
if redis.call('HGET', visitor_key, 'chat') then
  redis.call('ZADD', gone_key, 'GT', left_at + grace, visitor_id)
end
return 'left'
