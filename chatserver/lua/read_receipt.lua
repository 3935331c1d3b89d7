-- Record how far a participant has read: never backwards, never past the last message.
local meta_key = KEYS[1]      -- chat meta hash
local who = ARGV[1]           -- participant ('role:id')
local read = tonumber(ARGV[2])   -- sequence read
-- Returns {stored read sequence, 1 if it moved}, or {-1, 0} when the caller is not a
-- participant.  The caller publishes the stored value.
if redis.call('HGET', meta_key, 'p:' .. who) ~= '1' then return {-1, 0} end
local last = tonumber(redis.call('HGET', meta_key, 'seq') or '0')
local seq = math.min(read, last)
local field = 'read:' .. who
local before = tonumber(redis.call('HGET', meta_key, field) or '0')
if seq <= before then return {before, 0} end
redis.call('HSET', meta_key, field, seq)
return {seq, 1}
