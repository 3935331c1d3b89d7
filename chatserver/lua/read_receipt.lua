-- Record how far a participant has read (never backwards, never past the last message)
-- and tell the chat.
-- KEYS[1] = chat meta hash   KEYS[2] = chat channel
-- ARGV[1] = participant ('role:id')   ARGV[2] = sequence read   ARGV[3] = frame to publish
-- Returns the stored read sequence, or -1 when the caller is not a participant.
if redis.call('HGET', KEYS[1], 'p:' .. ARGV[1]) ~= '1' then return -1 end
local last = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
local seq = math.min(tonumber(ARGV[2]), last)
local field = 'read:' .. ARGV[1]
local before = tonumber(redis.call('HGET', KEYS[1], field) or '0')
if seq <= before then return before end
redis.call('HSET', KEYS[1], field, seq)
redis.call('PUBLISH', KEYS[2], ARGV[3])
return seq
