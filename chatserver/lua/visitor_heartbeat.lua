-- Refresh the live sockets of this process's visitors.  A connection the sweeper dropped
-- while the process stalled comes back, and so does its visitor (the gone mark is dropped).
-- (core/presence.py: heartbeat)
local presence_key = KEYS[1]   -- visitor presence zset
local gone_key = KEYS[2]       -- visitors gone zset
local now = ARGV[1]            -- ms
local expiry = ARGV[2]         -- connection expiry (ms)
local hash_ttl = ARGV[3]       -- visitor hash ttl (s)
local lifetime = ARGV[4]       -- lifetime of a connections key (ms)
-- then one group per visitor, in the same order in KEYS and ARGV (conn_ids: the
-- visitor's connection ids, comma-separated):
local visitor_keys = each(KEYS, 2, {'visitor_key', 'conns_key'})
local visitor_args = each(ARGV, 4, {'visitor_id', 'conn_ids'})
-- Returns the number of visitors refreshed.
for i, k in ipairs(visitor_keys) do
  local visitor = visitor_args[i].visitor_id
  for conn in string.gmatch(visitor_args[i].conn_ids, '[^,]+') do
    redis.call('ZADD', k.conns_key, expiry, conn)
  end
  redis.call('PEXPIRE', k.conns_key, lifetime)
  redis.call('HSET', k.visitor_key, 'seen', now)
  redis.call('EXPIRE', k.visitor_key, hash_ttl)
  redis.call('ZADD', presence_key, 'GT', expiry, visitor)
  redis.call('ZREM', gone_key, visitor)
end
return #visitor_keys
