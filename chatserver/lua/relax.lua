-- Drop a queued chat's optional skills once it has waited long enough.
local chat_key = KEYS[1]      -- chat hash
local relax_key = KEYS[2]     -- relax zset
local events_key = KEYS[3]    -- routing event stream
local history_key = KEYS[4]   -- chat history list
local chat_id = ARGV[1]
local now = ARGV[2]           -- ms
local events_max = ARGV[3]    -- event log max length
-- Returns 1 when the chat was relaxed.
redis.call('ZREM', relax_key, chat_id)
if redis.call('HGET', chat_key, 'state') ~= 'queued' then return 0 end
if redis.call('HGET', chat_key, 'relaxed') == '1' then return 0 end
redis.call('HSET', chat_key, 'relaxed', '1', 'relaxed_at', now)
event(events_key, events_max, 't', 'relax', 'chat', chat_id, 'ts', now)
history(history_key, 'relax', now, '', '')
return 1
