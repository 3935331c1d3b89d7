-- Move an active chat from its agent to another named agent with free capacity.
local chat_key = KEYS[1]          -- chat hash
local old_chats_key = KEYS[2]     -- old agent chats set
local new_chats_key = KEYS[3]     -- new agent chats set
local new_agent_key = KEYS[4]     -- new agent hash
local available_key = KEYS[5]     -- available set
local idle_key = KEYS[6]          -- idle zset
local events_key = KEYS[7]        -- routing event stream
local history_key = KEYS[8]       -- chat history list
local released_key = KEYS[9]      -- agents released from active chats (the sweeper's)
local chat_id = ARGV[1]
local expected_agent = ARGV[2]    -- agent expected to hold it ('' = whoever holds it)
local to_agent = ARGV[3]          -- new agent id
local now = ARGV[4]               -- ms
local from_states = ARGV[5]       -- allowed source states
local target = ARGV[6]            -- target state
local idle_at = ARGV[7]           -- idle deadline (ms)
local events_max = ARGV[8]        -- event log max length
local holder_read = ARGV[9]       -- holder the caller read
local by = ARGV[10]               -- who transfers (role:id)
local note = ARGV[11]             -- the transfer note ('' = none)
local check_at = ARGV[12]         -- ms: when the sweeper checks the old agent's
                                  --   participation (core/released.py)
local released_note = ARGV[13]    -- the note for the sweeper ('<chat>|<holder read>')
local writing_state = ARGV[14]    -- the state in which the holder writes in the log
-- Besides the 'transfer' entry the history gets a 'handoff' entry for the record's trace.
-- Returns {'ok', old agent} or {reason, ''}.
local chat = redis.call('HMGET', chat_key, 'state', 'agent')
if not chat[1] then return {'not_found', ''} end
if not state_in(from_states, chat[1]) then return {'invalid_state', ''} end
local holder = chat[2] or ''
if expected_agent ~= '' and holder ~= expected_agent then return {'not_yours', ''} end
if holder ~= holder_read then return {'retry', ''} end
if holder == to_agent then return {'same_agent', ''} end
if redis.call('SISMEMBER', available_key, to_agent) == 0 then
  return {'agent_unavailable', ''}
end
local refused, load, capacity = agent_room(new_agent_key, new_chats_key)
if refused then return {refused, ''} end
redis.call('SREM', old_chats_key, chat_id)
if holder ~= '' and chat[1] == writing_state then
  -- the old agent writes in the chat's log: the caller removes that (another slot); the
  -- note lets the sweeper do it if the caller dies first
  redis.call('ZADD', released_key, check_at, released_note)
end
redis.call('SADD', new_chats_key, chat_id)
redis.call('HSET', new_agent_key, 'idle_since', now)
redis.call('HSET', chat_key, 'state', target, 'agent', to_agent,
  'agent_name', redis.call('HGET', new_agent_key, 'name') or to_agent)
redis.call('ZADD', idle_key, idle_at, chat_id)
event(events_key, events_max,
  't', 'release', 'chat', chat_id, 'agent', holder, 'reason', 'transfer', 'ts', now)
event(events_key, events_max,
  't', 'assign', 'chat', chat_id, 'agent', to_agent, 'state', target,
  'load', tostring(load + 1), 'cap', tostring(capacity), 'ts', now)
history(history_key, 'transfer', now, holder, to_agent)
handoff(history_key, now, by, holder, to_agent, '', note)
return with_tail({'ok', holder}, chat_now(chat_key))
