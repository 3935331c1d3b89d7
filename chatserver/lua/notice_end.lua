-- End an outage notice and publish its end to every process, in one step.
local notices_key = KEYS[1]   -- notices hash
local expiry_key = KEYS[2]    -- notices expiry zset
local channel = KEYS[3]       -- notice channel
local notice_id = ARGV[1]
local frame = ARGV[2]         -- the frame to publish
local publish = ARGV[3]       -- 'PUBLISH', or 'SPUBLISH' on a cluster (sharded pub/sub; set by Scripts)
-- Returns the notice (JSON) it ended, or false if there was none with that id.
local notice = redis.call('HGET', notices_key, notice_id)
if not notice then return false end
redis.call('HDEL', notices_key, notice_id)
redis.call('ZREM', expiry_key, notice_id)
redis.call(publish, channel, frame)
return notice
