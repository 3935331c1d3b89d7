-- Commit a routing plan: offer (or assign) each chat to its planned agent, re-checking
-- every condition, so that a stale plan can lose a race but never break an invariant.
local available_key = KEYS[1]   -- available agents set
local offers_key = KEYS[2]      -- offers zset
local events_key = KEYS[3]      -- routing event stream
local relax_key = KEYS[4]       -- relax zset
local deadlines_key = KEYS[5]   -- queue deadlines zset
local idle_key = KEYS[6]        -- idle zset
local now = ARGV[1]             -- ms
local from_states = ARGV[2]     -- allowed source states ("queued")
local target = ARGV[3]          -- target state
local offer_at = ARGV[4]        -- offer deadline (ms)
local idle_at = ARGV[5]         -- idle deadline (ms)
local events_max = ARGV[6]      -- event log max length
local default_level = tonumber(ARGV[7])   -- default proficiency
-- then one group per pair (chat, agent), in the same order in KEYS and ARGV:
local pair_keys = each(KEYS, 6, {'chat_key', 'declined_key', 'agent_key', 'skills_key',
  'agent_chats_key', 'queue_key', 'history_key'})
local pair_args = each(ARGV, 7, {'chat_id', 'agent_id'})
-- Returns a list with one entry per pair: the chat's hash as it now is (HGETALL's flat
-- list: the caller builds the offer from it without reading it back) when it was
-- assigned, or the reason it was refused.
local allowed = state_set(from_states)

local results = {}
for i, k in ipairs(pair_keys) do
  local chat_id, agent_id = pair_args[i].chat_id, pair_args[i].agent_id
  local chat = redis.call('HMGET', k.chat_key, 'state', 'req', 'opt', 'relaxed')
  local reason = 'ok'
  if not chat[1] or not allowed[chat[1]] then
    reason = 'chat_not_queued'
  elseif not redis.call('ZSCORE', k.queue_key, chat_id) then
    reason = 'chat_not_in_queue'
  elseif redis.call('SISMEMBER', available_key, agent_id) == 0 then
    reason = 'agent_unavailable'
  elseif redis.call('SISMEMBER', k.declined_key, agent_id) == 1 then
    reason = 'agent_declined'
  else
    local refused, load, capacity = agent_room(k.agent_key, k.agent_chats_key)
    if refused then
      reason = refused
    elseif not has_skills(chat[2] or '', k.skills_key, default_level) then
      reason = 'agent_lacks_skill'
    elseif chat[4] ~= '1' and not has_skills(chat[3] or '', k.skills_key, default_level) then
      reason = 'agent_lacks_skill'
    else
      redis.call('ZREM', k.queue_key, chat_id)
      redis.call('ZREM', relax_key, chat_id)
      redis.call('ZREM', deadlines_key, chat_id)
      redis.call('SADD', k.agent_chats_key, chat_id)
      redis.call('HSET', k.agent_key, 'idle_since', now)
      redis.call('HSET', k.chat_key, 'state', target, 'agent', agent_id, 'offered_at', now,
        'agent_name', redis.call('HGET', k.agent_key, 'name') or agent_id)
      if target == 'offered' then
        redis.call('HSET', k.chat_key, 'offer_deadline', offer_at)
        redis.call('ZADD', offers_key, offer_at, chat_id)
      else
        redis.call('HSET', k.chat_key, 'accepted_at', now)
        redis.call('ZADD', idle_key, idle_at, chat_id)
      end
      event(events_key, events_max,
        't', 'assign', 'chat', chat_id, 'agent', agent_id, 'state', target,
        'load', tostring(load + 1), 'cap', tostring(capacity), 'ts', now)
      if target == 'offered' then
        history(k.history_key, 'offer', now, agent_id, '')
      else
        history(k.history_key, 'assign', now, agent_id, '')
      end
    end
  end
  if reason == 'ok' then
    results[i] = redis.call('HGETALL', k.chat_key)
  else
    results[i] = reason
  end
end
return results
