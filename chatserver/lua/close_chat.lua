-- End a chat: closed, abandoned or missed.  Frees the agent's capacity, removes the chat
-- from every queue and timer, clears the visitor's open chat and hands the chat to the
-- outbox for its interaction record.
local chat_key = KEYS[1]            -- chat hash
local declined_key = KEYS[2]        -- chat declined set
local agent_chats_key = KEYS[3]     -- the holder's chats set
local queue_key = KEYS[4]           -- queue zset
local offers_key = KEYS[5]          -- offers zset
local idle_key = KEYS[6]            -- idle zset
local relax_key = KEYS[7]           -- relax zset
local deadlines_key = KEYS[8]       -- queue deadlines zset
local live_key = KEYS[9]            -- live chats set
local visitor_key = KEYS[10]        -- visitor hash
local events_key = KEYS[11]         -- routing event stream
local outbox_key = KEYS[12]         -- outbox stream
local watchers_key = KEYS[13]       -- chat joined set (supervisors)
local history_key = KEYS[14]        -- chat history list
local visitor_conns_key = KEYS[15]  -- visitor connections zset
local visitor_gone_key = KEYS[16]   -- visitors gone zset
local handle_time_key = KEYS[17]    -- average handle time per topic
local chat_id = ARGV[1]
local now = ARGV[2]                 -- ms
local from_states = ARGV[3]         -- allowed source states
local target = ARGV[4]              -- target state
local event_name = ARGV[5]
local by = ARGV[6]                  -- closed by (role:id)
local outcome = ARGV[7]
local tags = ARGV[8]                -- tags (JSON)
local holder_read = ARGV[9]         -- holder agent the caller read ('' = none)
local required_agent = ARGV[10]     -- required holder ('' = anyone may close)
local retention = ARGV[11]          -- (s)
local events_max = ARGV[12]         -- event log max length
local if_visitor_gone = ARGV[13]    -- '1': only if the visitor has no live connection
                                    --   (their gone timer), else 'visitor_back'
local closer_name = ARGV[14]        -- the name of who closed it ('' for the system)
local handle_weight = ARGV[15]      -- weight of this chat in the topic's average handle
                                    --   time (core/queueing.update_average)
-- The visitor's gone mark is dropped: their chat has ended.
-- The record's tags are the chat's stored tags (``set_tags``, kept across transfers)
-- followed by those of `tags` not among them.
-- An accepted chat folds its handle time (accept to end, in seconds) into its topic's
-- average: new = old + weight * (sample - old), or the sample when there is none yet (the
-- rule of core/queueing.update_average, whose weight comes in ARGV).
-- Returns {'ok', holder agent, topic, visitor, <the chat's hash, flat>} or
-- {reason, '', '', ''}.
local chat = redis.call('HMGET', chat_key, 'state', 'agent', 'topic', 'visitor', 'accepted_at')
if not chat[1] then return {'not_found', '', '', ''} end
if not state_in(from_states, chat[1]) then return {'invalid_state', '', '', ''} end
local holder = chat[2] or ''
if required_agent ~= '' and holder ~= required_agent then return {'not_yours', '', '', ''} end
if holder ~= holder_read then return {'retry', '', '', ''} end
if if_visitor_gone == '1' and redis.call('ZCOUNT', visitor_conns_key, '(' .. now, '+inf') > 0 then
  return {'visitor_back', '', '', ''}
end
if holder ~= '' then redis.call('SREM', agent_chats_key, chat_id) end
local stored = redis.call('HGET', chat_key, 'tags')
if stored and stored ~= '' and stored ~= '[]' then
  local merged, seen = {}, {}
  for _, list in ipairs({cjson.decode(stored), cjson.decode(tags)}) do
    for _, t in ipairs(list) do
      if not seen[t] then seen[t] = true; merged[#merged + 1] = t end
    end
  end
  tags = cjson.encode(merged)
end
redis.call('HSET', chat_key, 'state', target, 'ended_at', now, 'ended_by', by,
  'outcome', outcome, 'tags', tags, 'end_event', event_name)
if closer_name ~= '' then redis.call('HSET', chat_key, 'ended_by_name', closer_name) end
if holder ~= '' and chat[5] then
  local sample = math.max(0, (tonumber(now) - tonumber(chat[5])) / 1000)
  local old = tonumber(redis.call('HGET', handle_time_key, chat[3] or '') or '0') or 0
  local avg = sample
  if old > 0 then avg = old + tonumber(handle_weight) * (sample - old) end
  redis.call('HSET', handle_time_key, chat[3] or '', tostring(avg))
end
redis.call('HDEL', chat_key, 'offer_deadline')
for _, key in ipairs({queue_key, offers_key, idle_key, relax_key, deadlines_key}) do
  redis.call('ZREM', key, chat_id)
end
redis.call('SREM', live_key, chat_id)
redis.call('ZREM', visitor_gone_key, chat[4] or '')
if redis.call('HGET', visitor_key, 'chat') == chat_id then
  redis.call('HDEL', visitor_key, 'chat')
end
redis.call('EXPIRE', chat_key, retention)
redis.call('EXPIRE', declined_key, retention)
redis.call('DEL', watchers_key)
history(history_key, 'end', now, holder, target)
redis.call('EXPIRE', history_key, retention)
event(events_key, events_max,
  't', 'end', 'chat', chat_id, 'agent', holder, 'state', target, 'reason', event_name,
  'ts', now)
redis.call('XADD', outbox_key, '*', 'chat', chat_id, 'state', target, 'ts', now)
return with_tail({'ok', holder, chat[3] or '', chat[4] or ''}, chat_now(chat_key))
