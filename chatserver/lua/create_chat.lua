-- Create a chat and put it in its queue, unless the visitor already has an open chat.
local chat_key = KEYS[1]        -- chat hash
local queue_key = KEYS[2]       -- queue zset
local visitor_key = KEYS[3]     -- visitor hash
local live_key = KEYS[4]        -- live chats set
local relax_key = KEYS[5]       -- relax zset
local deadlines_key = KEYS[6]   -- queue deadlines zset
local events_key = KEYS[7]      -- routing event stream
local history_key = KEYS[8]     -- chat history list
local handle_time_key = KEYS[9] -- average handle time per topic
local topics_key = KEYS[10]     -- topics hash (the topic must still exist)
local chat_id = ARGV[1]
local visitor_id = ARGV[2]
local topic = ARGV[3]
local priority = ARGV[4]
local required = ARGV[5]        -- required skills ("a:1,b:0")
local optional = ARGV[6]        -- optional skills
local now = ARGV[7]             -- ms
local score = ARGV[8]           -- queue score
local relax_at = ARGV[9]        -- ms, 0 = never
local missed_at = ARGV[10]      -- ms
local details = ARGV[11]        -- visitor details (JSON)
local visitor_ttl = ARGV[12]    -- visitor key ttl (s)
local events_max = ARGV[13]     -- event log max length
local visitor_name = ARGV[14]   -- the name the visitor gave ('' = keep the stored one)
-- Returns {1, chat id, queue position (1-based), average handle time of the topic ('' if
-- none yet), <the chat's hash, flat>} when created, {0, open chat id} when the visitor
-- already has one, {0, ''} when the topic was deleted meanwhile.
local open = redis.call('HGET', visitor_key, 'chat')
if open and open ~= '' then
  return {0, open}
end
if redis.call('HEXISTS', topics_key, topic) == 0 then return {0, ''} end
redis.call('HSET', chat_key,
  'id', chat_id, 'state', 'queued', 'visitor', visitor_id, 'topic', topic,
  'priority', priority, 'req', required, 'opt', optional, 'relaxed', '0',
  'created', now, 'queued_at', now, 'score', score, 'details', details)
redis.call('ZADD', queue_key, score, chat_id)
redis.call('HSET', visitor_key, 'chat', chat_id, 'seen', now)
if visitor_name ~= '' then redis.call('HSET', visitor_key, 'name', visitor_name) end
redis.call('EXPIRE', visitor_key, visitor_ttl)
redis.call('SADD', live_key, chat_id)
if tonumber(relax_at) > 0 then
  redis.call('ZADD', relax_key, relax_at, chat_id)
end
redis.call('ZADD', deadlines_key, missed_at, chat_id)
event(events_key, events_max, 't', 'created', 'chat', chat_id, 'topic', topic, 'ts', now)
history(history_key, 'created', now, '', topic)
return with_tail(
  {1, chat_id, redis.call('ZRANK', queue_key, chat_id) + 1,
   redis.call('HGET', handle_time_key, topic) or ''},
  chat_now(chat_key))
