-- Drop a visitor's gone mark if it is still the one the timer read (a newer mark, set by a
-- later disconnect, stays).
-- KEYS[1] = visitors gone zset
-- ARGV[1] = visitor id   ARGV[2] = the mark's due time as read (ms)
-- Returns 1 if dropped.
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if due and tonumber(due) == tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
