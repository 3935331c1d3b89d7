-- Take a chat from its agent and put it back in a queue (decline, lapse, agent gone,
-- transfer to a queue).  The agent's capacity is freed in the same step.
local chat_key = KEYS[1]          -- chat hash
local declined_key = KEYS[2]      -- chat declined set
local agent_chats_key = KEYS[3]   -- the holder's chats set
local agent_key = KEYS[4]         -- the holder's hash
local available_key = KEYS[5]     -- available set
local queue_key = KEYS[6]         -- target queue zset
local offers_key = KEYS[7]        -- offers zset
local idle_key = KEYS[8]          -- idle zset
local deadlines_key = KEYS[9]     -- queue deadlines zset
local relax_key = KEYS[10]        -- relax zset
local events_key = KEYS[11]       -- routing event stream
local history_key = KEYS[12]      -- chat history list
local status_log_key = KEYS[13]   -- agent status log stream
local handle_time_key = KEYS[14]  -- average handle time per topic
local chat_id = ARGV[1]
local expected_agent = ARGV[2]    -- agent expected to hold it ('' = whoever holds it)
local now = ARGV[3]               -- ms
local from_states = ARGV[4]       -- allowed source states
local target = ARGV[5]            -- target state
local event_name = ARGV[6]
local mark_declined = ARGV[7]     -- '1' to mark the agent as having declined
local lapse_status = ARGV[8]      -- the agent's status after a missed offer ('' = keep;
                                  --   core/agent_presence.py)
local score = ARGV[9]             -- queue score
local new_topic = ARGV[10]        -- '' = keep
local new_required = ARGV[11]     -- new required skills
local new_optional = ARGV[12]     -- new optional skills
local missed_at = ARGV[13]        -- ms
local relax_at = ARGV[14]         -- ms, 0 = none: when the chat's optional skills are
                                  --   dropped, if it has some not dropped yet
local events_max = ARGV[15]       -- event log max length
local topic_read = ARGV[16]       -- topic the caller read or was offered (the target
                                  --   queue belongs to it)
local holder_read = ARGV[17]      -- holder the caller read or expects (the agent keys
                                  --   belong to it)
local priority_read = ARGV[18]    -- priority the caller read or was offered (score)
local created_read = ARGV[19]     -- creation time (ms) the caller read or was offered
                                  --   (score, relax_at)
local by = ARGV[20]               -- who transfers (role:id; transfer_queue only)
local note = ARGV[21]             -- the transfer note
local new_priority = ARGV[22]     -- the new topic's priority (with new_topic)
-- A transfer to a queue also adds a 'handoff' entry to the history (the record's trace).
-- A 'lapse' is refused ('not_due') unless the chat's current offer deadline has passed, so
-- a timer that read an old deadline cannot end a newer offer.
-- The caller built the keys and the score from what it read of the chat, or from what the
-- agent was offered (a decline needs no read): when the chat differs from that now (it
-- moved, or changed), nothing is done and the answer is 'retry' (read it, call again).
-- Returns {'ok', agent, queue position (1-based), average handle time of the topic ('' if
-- none yet), <the chat's hash, flat>} or {reason, ''}.
local chat = redis.call('HMGET', chat_key, 'state', 'agent', 'topic', 'offer_deadline',
  'priority', 'created', 'opt', 'relaxed')
if not chat[1] then return {'not_found', ''} end
if not state_in(from_states, chat[1]) then return {'invalid_state', ''} end
local holder = chat[2] or ''
if expected_agent ~= '' and holder ~= expected_agent then return {'not_yours', ''} end
if new_topic == '' and (chat[3] or '') ~= topic_read then return {'retry', ''} end
if holder ~= holder_read then return {'retry', ''} end
if (chat[5] or '') ~= priority_read or (chat[6] or '') ~= created_read then
  return {'retry', ''}
end
if event_name == 'lapse' and tonumber(chat[4] or '0') > tonumber(now) then
  return {'not_due', ''}
end
local agent_id = holder
if agent_id ~= '' then
  redis.call('SREM', agent_chats_key, chat_id)
  if mark_declined == '1' then
    redis.call('SADD', declined_key, agent_id)
  end
  if lapse_status ~= '' then
    if redis.call('HGET', agent_key, 'status') ~= lapse_status then
      redis.call('XADD', status_log_key, '*', 'agent', agent_id, 'status', lapse_status,
        'ts', now)
    end
    redis.call('HSET', agent_key, 'status', lapse_status, 'status_at', now)
    redis.call('SREM', available_key, agent_id)
  end
end
redis.call('HDEL', chat_key, 'agent', 'agent_name', 'offer_deadline')
redis.call('HSET', chat_key, 'state', target, 'queued_at', now, 'score', score)
if new_topic ~= '' then
  redis.call('HSET', chat_key, 'topic', new_topic, 'req', new_required, 'opt', new_optional,
    'relaxed', '0', 'priority', new_priority)
end
redis.call('ZADD', queue_key, score, chat_id)
redis.call('ZREM', offers_key, chat_id)
redis.call('ZREM', idle_key, chat_id)
redis.call('ZADD', deadlines_key, missed_at, chat_id)
-- the optional skills the chat has from now on, and whether they were dropped already
local optional, relaxed = chat[7] or '', chat[8]
if new_topic ~= '' then optional, relaxed = new_optional, '0' end
if tonumber(relax_at) > 0 and optional ~= '' and relaxed ~= '1' then
  redis.call('ZADD', relax_key, relax_at, chat_id)
end
event(events_key, events_max,
  't', 'release', 'chat', chat_id, 'agent', agent_id, 'reason', event_name, 'ts', now)
local topic_now = new_topic
if topic_now == '' then topic_now = chat[3] or '' end
history(history_key, event_name, now, agent_id, topic_now)
if event_name == 'transfer_queue' then
  handoff(history_key, now, by, agent_id, '', topic_now, note)
end
return with_tail(
  {'ok', agent_id, redis.call('ZRANK', queue_key, chat_id) + 1,
   redis.call('HGET', handle_time_key, topic_now) or ''},
  chat_now(chat_key))
