-- Record a message left when nobody could answer: a chat that starts and ends at once in
-- the state 'offline' (core/lifecycle.py: a terminal state no event leaves).  The caller
-- has stored the message text in the chat's log and sealed it (the chat's own slot) before
-- this script: the chat, the notice it is linked to and its outbox entry are then written
-- in this one step, so a crash in between leaves only a sealed log nobody names, which
-- expires, and never a chat without its record.
local chat_key = KEYS[1]      -- chat hash
local history_key = KEYS[2]   -- chat history list
local events_key = KEYS[3]    -- routing event stream
local outbox_key = KEYS[4]    -- outbox stream
local notices_key = KEYS[5]   -- the chat's seen notices set
local chat_id = ARGV[1]
local visitor_id = ARGV[2]
local topic = ARGV[3]
local details = ARGV[4]       -- JSON
local now = ARGV[5]           -- ms
local retention = ARGV[6]     -- (s)
local events_max = ARGV[7]    -- event log max length
local state = ARGV[8]         -- the state ('offline')
local notice = ARGV[9]        -- the notice the message is linked to ('' = none)
local notice_ttl = ARGV[10]   -- (s) how long the seen notices are kept
-- Returns 1, or 0 if the chat id is taken.
if redis.call('EXISTS', chat_key) == 1 then return 0 end
redis.call('HSET', chat_key, 'id', chat_id, 'state', state, 'visitor', visitor_id,
  'topic', topic, 'priority', '0', 'req', '', 'opt', '', 'relaxed', '0',
  'created', now, 'ended_at', now, 'ended_by', 'visitor:' .. visitor_id,
  'outcome', 'offline_message', 'tags', '[]', 'details', details)
history(history_key, 'created', now, '', topic)
history(history_key, 'end', now, '', state)
redis.call('EXPIRE', chat_key, retention)
redis.call('EXPIRE', history_key, retention)
event(events_key, events_max, 't', 'offline', 'chat', chat_id, 'ts', now)
if notice ~= '' then
  redis.call('SADD', notices_key, notice)
  redis.call('EXPIRE', notices_key, notice_ttl)
end
redis.call('XADD', outbox_key, '*', 'chat', chat_id, 'state', state, 'ts', now)
return 1
