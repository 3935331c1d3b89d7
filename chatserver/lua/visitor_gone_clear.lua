-- Drop a visitor's gone mark if it is still the one the timer read (a newer mark, set by a
-- later disconnect, stays).
local gone_key = KEYS[1]       -- visitors gone zset
local visitor_id = ARGV[1]
local due_read = tonumber(ARGV[2])   -- the mark's due time as read (ms)
-- Returns 1 if dropped.
local due = redis.call('ZSCORE', gone_key, visitor_id)
if due and tonumber(due) == due_read then
  return redis.call('ZREM', gone_key, visitor_id)
end
return 0
