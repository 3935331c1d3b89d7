-- Bump the message epoch once per Redis server restart (identified by its run id).
-- KEYS[1] = epoch counter   KEYS[2] = run id the epoch belongs to
-- ARGV[1] = the server's current run id
-- Returns the current epoch.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[1])
  return redis.call('INCR', KEYS[1])
end
return tonumber(redis.call('GET', KEYS[1]) or '0')
