-- One pass of the timers, on any process: note that the timers run, and when they had not
-- run for longer than `max_gap` (every process was down, or Redis lost its data) note that
-- they resumed now.  Visitors who could not reconnect while nothing was serving are not
-- counted as gone for that time (see Node._visitors_gone).
local timers_key = KEYS[1]        -- timers hash (seen, since)
local now = ARGV[1]               -- ms
local max_gap = tonumber(ARGV[2]) -- the longest gap that is not an outage (ms)
local lifetime = ARGV[3]          -- lifetime of the hash (ms)
-- Returns the time (ms) the timers last resumed after an outage.
local t = redis.call('HMGET', timers_key, 'seen', 'since')
local now_ms = tonumber(now)
local since = tonumber(t[2] or '0')
if not t[1] or not t[2] or now_ms - tonumber(t[1]) > max_gap then
  since = now_ms
  redis.call('HSET', timers_key, 'since', now)
end
if not t[1] or now_ms > tonumber(t[1]) then
  redis.call('HSET', timers_key, 'seen', now)
end
redis.call('PEXPIRE', timers_key, lifetime)
return since
