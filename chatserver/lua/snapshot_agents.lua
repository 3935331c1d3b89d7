#!lua flags=no-writes
-- The routing view of the available agents, read in one step for a routing pass.
-- one group per agent:
local agents = each(KEYS, 0, {'agent_key', 'agent_chats_key'})
-- Returns a flat list, five entries per agent in KEYS order:
--   capacity, idle_since, status, disabled ('' when unset), load (SCARD of the chats)
local out = {}
for _, k in ipairs(agents) do
  local a = redis.call('HMGET', k.agent_key, 'capacity', 'idle_since', 'status', 'disabled')
  out[#out + 1] = a[1] or ''
  out[#out + 1] = a[2] or ''
  out[#out + 1] = a[3] or ''
  out[#out + 1] = a[4] or ''
  out[#out + 1] = redis.call('SCARD', k.agent_chats_key)
end
return out
