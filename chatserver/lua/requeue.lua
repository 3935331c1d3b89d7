-- Take a chat from its agent and put it back in a queue (decline, lapse, agent gone,
-- transfer to a queue).  The agent's capacity is freed in the same step.
-- KEYS[1] = chat hash        KEYS[2] = chat declined set   KEYS[3] = agent chats set
-- KEYS[4] = agent hash       KEYS[5] = available set       KEYS[6] = target queue zset
-- KEYS[7] = offers zset      KEYS[8] = idle zset           KEYS[9] = queue deadlines zset
-- KEYS[10] = relax zset      KEYS[11] = event stream       KEYS[12] = chat history list
-- KEYS[13] = agent status log stream
-- ARGV[1] = chat id          ARGV[2] = agent id expected to hold it ('' = whoever holds it)
-- ARGV[3] = now (ms)         ARGV[4] = allowed source states   ARGV[5] = target state
-- ARGV[6] = event name       ARGV[7] = '1' to mark the agent as having declined
-- ARGV[8] = '1' to set the agent away      ARGV[9] = queue score
-- ARGV[10] = new topic ('' = keep)         ARGV[11] = new required skills
-- ARGV[12] = new optional skills           ARGV[13] = missed at (ms)
-- ARGV[14] = relax at (ms, 0 = none)       ARGV[15] = event log max length
-- ARGV[16] = topic the caller read (the target queue belongs to it)
-- ARGV[17] = holder the caller read (KEYS[3] and KEYS[4] belong to it)
-- ARGV[18] = who transfers (role:id; transfer_queue only)   ARGV[19] = the transfer note
-- A transfer to a queue also adds a 'handoff' entry to the history (the record's trace):
-- handoff|ms|by|{"from": old agent, "to": "", "topic": new topic, "note": note}.
-- A 'lapse' is refused ('not_due') unless the chat's current offer deadline has passed, so
-- a timer that read an old deadline cannot end a newer offer.
-- Returns {'ok', agent} or {reason, ''}.
local chat = redis.call('HMGET', KEYS[1], 'state', 'agent', 'topic', 'offer_deadline')
if not chat[1] then return {'not_found', ''} end
local ok = false
for s in string.gmatch(ARGV[4], '[^,]+') do if s == chat[1] then ok = true end end
if not ok then return {'invalid_state', ''} end
local holder = chat[2] or ''
if ARGV[2] ~= '' and holder ~= ARGV[2] then return {'not_yours', ''} end
if ARGV[10] == '' and (chat[3] or '') ~= ARGV[16] then return {'retry', ''} end
if holder ~= ARGV[17] then return {'retry', ''} end
if ARGV[6] == 'lapse' and tonumber(chat[4] or '0') > tonumber(ARGV[3]) then
  return {'not_due', ''}
end
local agent_id = holder
if agent_id ~= '' then
  redis.call('SREM', KEYS[3], ARGV[1])
  if ARGV[7] == '1' then
    redis.call('SADD', KEYS[2], agent_id)
  end
  if ARGV[8] == '1' then
    if redis.call('HGET', KEYS[4], 'status') ~= 'away' then
      redis.call('XADD', KEYS[13], '*', 'agent', agent_id, 'status', 'away', 'ts', ARGV[3])
    end
    redis.call('HSET', KEYS[4], 'status', 'away', 'status_at', ARGV[3])
    redis.call('SREM', KEYS[5], agent_id)
  end
end
redis.call('HDEL', KEYS[1], 'agent', 'offer_deadline')
redis.call('HSET', KEYS[1], 'state', ARGV[5], 'queued_at', ARGV[3], 'score', ARGV[9])
if ARGV[10] ~= '' then
  redis.call('HSET', KEYS[1], 'topic', ARGV[10], 'req', ARGV[11], 'opt', ARGV[12],
    'relaxed', '0')
end
redis.call('ZADD', KEYS[6], ARGV[9], ARGV[1])
redis.call('ZREM', KEYS[7], ARGV[1])
redis.call('ZREM', KEYS[8], ARGV[1])
redis.call('ZADD', KEYS[9], ARGV[13], ARGV[1])
if tonumber(ARGV[14]) > 0 then
  redis.call('ZADD', KEYS[10], ARGV[14], ARGV[1])
end
redis.call('XADD', KEYS[11], 'MAXLEN', '~', ARGV[15], '*',
  't', 'release', 'chat', ARGV[1], 'agent', agent_id, 'reason', ARGV[6], 'ts', ARGV[3])
local topic_now = ARGV[10]
if topic_now == '' then topic_now = chat[3] or '' end
redis.call('RPUSH', KEYS[12], ARGV[6] .. '|' .. ARGV[3] .. '|' .. agent_id .. '|' .. topic_now)
if ARGV[6] == 'transfer_queue' then
  redis.call('RPUSH', KEYS[12], 'handoff|' .. ARGV[3] .. '|' .. (ARGV[18] or '') .. '|' ..
    cjson.encode({from = agent_id, to = '', topic = topic_now, note = ARGV[19] or ''}))
end
return {'ok', agent_id}
