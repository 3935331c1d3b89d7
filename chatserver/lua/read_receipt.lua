-- Record how far a participant has read: never backwards, never past the last message.
-- KEYS[1] = chat meta hash
-- ARGV[1] = participant ('role:id')   ARGV[2] = sequence read
-- Returns {stored read sequence, 1 if it moved}, or {-1, 0} when the caller is not a
-- participant.  The caller publishes the stored value.
if redis.call('HGET', KEYS[1], 'p:' .. ARGV[1]) ~= '1' then return {-1, 0} end
local last = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
local seq = math.min(tonumber(ARGV[2]), last)
local field = 'read:' .. ARGV[1]
local before = tonumber(redis.call('HGET', KEYS[1], field) or '0')
if seq <= before then return {before, 0} end
redis.call('HSET', KEYS[1], field, seq)
return {seq, 1}
