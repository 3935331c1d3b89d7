-- Refresh the live sockets of this process's visitors.  A connection the sweeper dropped
-- while the process stalled comes back, and so does its visitor (the gone mark is dropped).
-- (core/presence.py: heartbeat)
-- KEYS[1] = visitor presence zset   KEYS[2] = visitors gone zset
-- then for each visitor i (1-based): KEYS[1+2*i] = visitor hash, KEYS[2+2*i] = connections
-- ARGV[1] = now (ms)   ARGV[2] = connection expiry (ms)   ARGV[3] = visitor hash ttl (s)
-- ARGV[4] = lifetime of a connections key (ms)
-- then for each visitor i, in the order of KEYS: visitor id, n, then n connection ids
-- Returns the number of visitors refreshed.
local a = 5
local i = 0
while a <= #ARGV do
  i = i + 1
  local visitor, n = ARGV[a], tonumber(ARGV[a + 1])
  local hash, conns = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  for j = 1, n do
    redis.call('ZADD', conns, ARGV[2], ARGV[a + 1 + j])
  end
  redis.call('PEXPIRE', conns, ARGV[4])
  redis.call('HSET', hash, 'seen', ARGV[1])
  redis.call('EXPIRE', hash, ARGV[3])
  redis.call('ZADD', KEYS[1], 'GT', ARGV[2], visitor)
  redis.call('ZREM', KEYS[2], visitor)
  a = a + 2 + n
end
return i
