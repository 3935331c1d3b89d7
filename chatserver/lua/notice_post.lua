-- Post an outage notice and publish it to every process, in one step.  Notices whose
-- expiry has passed are dropped first; at most `max_active` notices are in force at once.
local notices_key = KEYS[1]   -- notices hash
local expiry_key = KEYS[2]    -- notices expiry zset
local channel = KEYS[3]       -- notice channel
local notice_id = ARGV[1]
local notice = ARGV[2]        -- JSON
local now = ARGV[3]           -- ms
local max_active = tonumber(ARGV[4])   -- most notices in force
local expires_at = ARGV[5]    -- ms, or '+inf'
local frame = ARGV[6]         -- the frame to publish
local publish = ARGV[7]       -- 'PUBLISH', or 'SPUBLISH' on a cluster (sharded pub/sub; set by Scripts)
-- Returns {1, [expired ids...]}, or {0} when too many notices are in force.
local gone = redis.call('ZRANGEBYSCORE', expiry_key, '-inf', now)
for _, id in ipairs(gone) do
  redis.call('HDEL', notices_key, id)
  redis.call('ZREM', expiry_key, id)
end
if redis.call('HLEN', notices_key) >= max_active then return {0} end
redis.call('HSET', notices_key, notice_id, notice)
redis.call('ZADD', expiry_key, expires_at, notice_id)
redis.call(publish, channel, frame)
local reply = {1}
for _, id in ipairs(gone) do reply[#reply + 1] = id end
return reply
