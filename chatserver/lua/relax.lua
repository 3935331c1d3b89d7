-- Drop a queued chat's optional skills once it has waited long enough.
-- KEYS[1] = chat hash   KEYS[2] = relax zset   KEYS[3] = event stream
-- KEYS[4] = chat history list
-- ARGV[1] = chat id     ARGV[2] = now (ms)     ARGV[3] = event log max length
-- Returns 1 when the chat was relaxed.
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[1], 'state') ~= 'queued' then return 0 end
if redis.call('HGET', KEYS[1], 'relaxed') == '1' then return 0 end
redis.call('HSET', KEYS[1], 'relaxed', '1', 'relaxed_at', ARGV[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*',
  't', 'relax', 'chat', ARGV[1], 'ts', ARGV[2])
redis.call('RPUSH', KEYS[4], 'relax|' .. ARGV[2] .. '||')
return 1
