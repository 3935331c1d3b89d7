-- Register one socket of a visitor (several tabs, on any processes, are one visitor).  The
-- visitor is present again: a pending "gone" mark is dropped.  (core/presence.py: connect)
local conns_key = KEYS[1]      -- visitor connections zset
local presence_key = KEYS[2]   -- visitor presence zset (sweeper's index)
local gone_key = KEYS[3]       -- visitors gone zset
local visitor_id = ARGV[1]
local conn_id = ARGV[2]
local expiry = ARGV[3]         -- connection expiry (ms)
local now = ARGV[4]            -- ms
local lifetime = ARGV[5]       -- lifetime of the connections key (ms)
-- Returns the number of live connections.
redis.call('ZREMRANGEBYSCORE', conns_key, '-inf', now)
redis.call('ZADD', conns_key, expiry, conn_id)
redis.call('PEXPIRE', conns_key, lifetime)
redis.call('ZADD', presence_key, 'GT', expiry, visitor_id)
redis.call('ZREM', gone_key, visitor_id)
return redis.call('ZCARD', conns_key)
