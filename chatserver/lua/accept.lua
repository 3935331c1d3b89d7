-- An agent accepts the chat offered to them.
local chat_key = KEYS[1]      -- chat hash
local offers_key = KEYS[2]    -- offers zset
local idle_key = KEYS[3]      -- idle zset
local events_key = KEYS[4]    -- routing event stream
local history_key = KEYS[5]   -- chat history list
local chat_id = ARGV[1]
local agent_id = ARGV[2]
local now = ARGV[3]           -- ms
local from_states = ARGV[4]   -- allowed source states
local target = ARGV[5]        -- target state
local idle_at = ARGV[6]       -- idle deadline (ms)
local events_max = ARGV[7]    -- event log max length
-- Returns {'ok', <the chat's hash, flat>} or {'not_found' | 'invalid_state' | 'not_yours'}.
local chat = redis.call('HMGET', chat_key, 'state', 'agent')
if not chat[1] then return {'not_found'} end
if not state_in(from_states, chat[1]) then return {'invalid_state'} end
if chat[2] ~= agent_id then return {'not_yours'} end
redis.call('HSET', chat_key, 'state', target, 'accepted_at', now)
redis.call('HDEL', chat_key, 'offer_deadline')
redis.call('ZREM', offers_key, chat_id)
redis.call('ZADD', idle_key, idle_at, chat_id)
event(events_key, events_max, 't', 'accept', 'chat', chat_id, 'agent', agent_id, 'ts', now)
history(history_key, 'accept', now, agent_id, '')
return with_tail({'ok'}, chat_now(chat_key))
