-- Commit a routing plan: offer (or assign) each chat to its planned agent, re-checking
-- every condition, so that a stale plan can lose a race but never break an invariant.
-- KEYS[1] = available agents set   KEYS[2] = offers zset   KEYS[3] = routing event stream
-- KEYS[4] = relax zset             KEYS[5] = queue deadlines zset   KEYS[6] = idle zset
-- then for each pair i (0-based), base = 6 + 7*i:
--   KEYS[base+1] = chat hash   KEYS[base+2] = chat declined set   KEYS[base+3] = agent hash
--   KEYS[base+4] = agent skills hash   KEYS[base+5] = agent chats set   KEYS[base+6] = queue
--   KEYS[base+7] = chat history list
-- ARGV[1] = now (ms)   ARGV[2] = allowed source states ("queued")   ARGV[3] = target state
-- ARGV[4] = offer deadline (ms)   ARGV[5] = idle deadline (ms)   ARGV[6] = event log max length
-- ARGV[7] = default proficiency
-- then for each pair i: ARGV[8+2*i] = chat id, ARGV[9+2*i] = agent id
-- Returns a list with one entry per pair: 'ok' or the reason it was refused.
local now = ARGV[1]
local target = ARGV[3]
local default_level = tonumber(ARGV[7])
local allowed = {}
for s in string.gmatch(ARGV[2], '[^,]+') do allowed[s] = true end

local function has_skills(spec, skills_key)
  for name, minimum in string.gmatch(spec, '([^,:]+):(%d+)') do
    local level = redis.call('HGET', skills_key, name)
    if not level then return false end
    level = tonumber(level)
    if level == 0 then level = default_level end
    if level < tonumber(minimum) then return false end
  end
  return true
end

local results = {}
local pairs_n = (#ARGV - 7) / 2
for i = 0, pairs_n - 1 do
  local base = 6 + 7 * i
  local chat_key, declined_key = KEYS[base + 1], KEYS[base + 2]
  local agent_key, skills_key = KEYS[base + 3], KEYS[base + 4]
  local chats_key, queue_key = KEYS[base + 5], KEYS[base + 6]
  local chat_id, agent_id = ARGV[8 + 2 * i], ARGV[9 + 2 * i]
  local chat = redis.call('HMGET', chat_key, 'state', 'req', 'opt', 'relaxed')
  local reason = 'ok'
  if not chat[1] or not allowed[chat[1]] then
    reason = 'chat_not_queued'
  elseif not redis.call('ZSCORE', queue_key, chat_id) then
    reason = 'chat_not_in_queue'
  elseif redis.call('SISMEMBER', KEYS[1], agent_id) == 0 then
    reason = 'agent_unavailable'
  elseif redis.call('SISMEMBER', declined_key, agent_id) == 1 then
    reason = 'agent_declined'
  else
    local agent = redis.call('HMGET', agent_key, 'capacity', 'disabled', 'status')
    local capacity = tonumber(agent[1] or '0')
    local load = redis.call('SCARD', chats_key)
    if agent[2] == '1' or agent[3] ~= 'online' then
      reason = 'agent_unavailable'
    elseif load >= capacity then
      reason = 'agent_full'
    elseif not has_skills(chat[2] or '', skills_key) then
      reason = 'agent_lacks_skill'
    elseif chat[4] ~= '1' and not has_skills(chat[3] or '', skills_key) then
      reason = 'agent_lacks_skill'
    else
      redis.call('ZREM', queue_key, chat_id)
      redis.call('ZREM', KEYS[4], chat_id)
      redis.call('ZREM', KEYS[5], chat_id)
      redis.call('SADD', chats_key, chat_id)
      redis.call('HSET', agent_key, 'idle_since', now)
      redis.call('HSET', chat_key, 'state', target, 'agent', agent_id, 'offered_at', now)
      if target == 'offered' then
        redis.call('HSET', chat_key, 'offer_deadline', ARGV[4])
        redis.call('ZADD', KEYS[2], ARGV[4], chat_id)
      else
        redis.call('HSET', chat_key, 'accepted_at', now)
        redis.call('ZADD', KEYS[6], ARGV[5], chat_id)
      end
      redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*',
        't', 'assign', 'chat', chat_id, 'agent', agent_id, 'state', target,
        'load', tostring(load + 1), 'cap', tostring(capacity), 'ts', now)
      if target == 'offered' then
        redis.call('RPUSH', KEYS[base + 7], 'offer|' .. now .. '|' .. agent_id .. '|')
      else
        redis.call('RPUSH', KEYS[base + 7], 'assign|' .. now .. '|' .. agent_id .. '|')
      end
    end
  end
  results[i + 1] = reason
end
return results
