-- What the chat scripts share: the state check, the history line, the routing event, the
-- skill match and an agent's room for one more chat.

-- Whether `state` is one of `states`: the source states of a transition, comma-separated,
-- as core/lifecycle.py passes them through ARGV (the table lives there, not here).
local function state_in(states, state)
  if not state then return false end
  for s in string.gmatch(states, '[^,]+') do
    if s == state then return true end
  end
  return false
end

-- The same as a set, for a script that checks many chats against one list.
local function state_set(states)
  local set = {}
  for s in string.gmatch(states, '[^,]+') do set[s] = true end
  return set
end

-- Append one entry to a chat's history list: ``kind|ms|who|detail`` (read back by
-- records/builder.py into the record's trace).
local function history(key, kind, ms, who, detail)
  redis.call('RPUSH', key, kind .. '|' .. ms .. '|' .. (who or '') .. '|' .. (detail or ''))
end

-- The 'handoff' history entry of a transfer (the record's transfer trace):
-- handoff|ms|by|{"from": old agent, "to": new agent or "", "topic": new topic or "", "note"}.
local function handoff(key, ms, by, from, to, topic, note)
  history(key, 'handoff', ms, by,
    cjson.encode({from = from, to = to, topic = topic, note = note or ''}))
end

-- Append to the routing event log (a stream capped at about `max` entries); the
-- remaining arguments are its field/value pairs.
local function event(key, max, ...)
  return redis.call('XADD', key, 'MAXLEN', '~', max, '*', ...)
end

-- Whether the agent whose skills hash is `skills_key` meets every ``name:minimum`` of
-- `spec` (core/routing.py's encode_skills); a stated proficiency of 0 counts as
-- `default_level`.  The same rule as core/routing.py's qualifies, re-checked here.
local function has_skills(spec, skills_key, default_level)
  for name, minimum in string.gmatch(spec, '([^,:]+):(%d+)') do
    local level = redis.call('HGET', skills_key, name)
    if not level then return false end
    level = tonumber(level)
    if level == 0 then level = default_level end
    if level < tonumber(minimum) then return false end
  end
  return true
end

-- Whether the agent can take one more chat now: returns nil (yes) or the refusal
-- ('agent_unavailable': disabled or not online; 'agent_full': at capacity), then their
-- load and capacity.
local function agent_room(agent_key, chats_key)
  local agent = redis.call('HMGET', agent_key, 'capacity', 'disabled', 'status')
  local capacity = tonumber(agent[1] or '0')
  local load = redis.call('SCARD', chats_key)
  if agent[2] == '1' or agent[3] ~= 'online' then return 'agent_unavailable', load, capacity end
  if load >= capacity then return 'agent_full', load, capacity end
  return nil, load, capacity
end

-- What a script that changed a chat returns after its own fields: the chat's hash as it
-- now is (flat HGETALL), so the caller builds the chat's view without reading it back.
local function chat_now(chat_key)
  return redis.call('HGETALL', chat_key)
end

-- Append `tail` (a flat list) to `head` and return it.
local function with_tail(head, tail)
  for _, v in ipairs(tail) do head[#head + 1] = v end
  return head
end
