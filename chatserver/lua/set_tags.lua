-- Replace a live chat's tags (the agent holding it, or a supervisor).  They travel with the
-- chat through transfers and requeues; the close merges them with the tags it carries.
local chat_key = KEYS[1]          -- chat hash
local tags = ARGV[1]              -- JSON list
local from_states = ARGV[2]       -- allowed states
local required_agent = ARGV[3]    -- required holder ('' = any)
-- Returns 'ok' or a reason: not_found, invalid_state, not_yours.
local chat = redis.call('HMGET', chat_key, 'state', 'agent')
if not chat[1] then return 'not_found' end
if not state_in(from_states, chat[1]) then return 'invalid_state' end
if required_agent ~= '' and (chat[2] or '') ~= required_agent then return 'not_yours' end
redis.call('HSET', chat_key, 'tags', tags)
return 'ok'
