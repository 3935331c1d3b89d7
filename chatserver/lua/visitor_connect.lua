-- Register one socket of a visitor (several tabs, on any processes, are one visitor).  The
-- visitor is present again: a pending "gone" mark is dropped.  (core/presence.py: connect)
-- KEYS[1] = visitor connections zset   KEYS[2] = visitor presence zset (sweeper's index)
-- KEYS[3] = visitors gone zset
-- ARGV[1] = visitor id   ARGV[2] = connection id   ARGV[3] = connection expiry (ms)
-- ARGV[4] = now (ms)     ARGV[5] = lifetime of the connections key (ms)
-- Returns the number of live connections.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], 'GT', ARGV[3], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return redis.call('ZCARD', KEYS[1])
