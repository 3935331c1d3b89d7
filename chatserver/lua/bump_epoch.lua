-- Bump the message epoch once per Redis server restart (identified by its run id).
local epoch_key = KEYS[1]    -- epoch counter
local epoch_run_key = KEYS[2]   -- run id the epoch belongs to
local run_id = ARGV[1]       -- the server's current run id
-- Returns the current epoch.
if redis.call('GET', epoch_run_key) ~= run_id then
  redis.call('SET', epoch_run_key, run_id)
  return redis.call('INCR', epoch_key)
end
return tonumber(redis.call('GET', epoch_key) or '0')
