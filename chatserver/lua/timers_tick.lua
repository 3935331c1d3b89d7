-- One pass of the timers, on any process: note that the timers run, and when they had not
-- run for longer than ARGV[2] (every process was down, or Redis lost its data) note that
-- they resumed now.  Visitors who could not reconnect while nothing was serving are not
-- counted as gone for that time (see Node._visitors_gone).
-- KEYS[1] = timers hash (seen, since)
-- ARGV[1] = now (ms)   ARGV[2] = the longest gap that is not an outage (ms)
-- ARGV[3] = lifetime of the hash (ms)
-- Returns the time (ms) the timers last resumed after an outage.
local t = redis.call('HMGET', KEYS[1], 'seen', 'since')
local now = tonumber(ARGV[1])
local since = tonumber(t[2] or '0')
if not t[1] or not t[2] or now - tonumber(t[1]) > tonumber(ARGV[2]) then
  since = now
  redis.call('HSET', KEYS[1], 'since', ARGV[1])
end
if not t[1] or now > tonumber(t[1]) then
  redis.call('HSET', KEYS[1], 'seen', ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return since
