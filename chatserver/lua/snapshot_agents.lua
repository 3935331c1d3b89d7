#!lua flags=no-writes
-- The routing view of the available agents, read in one step for a routing pass.
-- KEYS[2i-1] = agent i's hash   KEYS[2i] = agent i's chats set   (i = 1 .. #KEYS / 2)
-- Returns a flat list, five entries per agent in KEYS order:
--   capacity, idle_since, status, disabled ('' when unset), load (SCARD of the chats)
local out = {}
for i = 1, #KEYS, 2 do
  local a = redis.call('HMGET', KEYS[i], 'capacity', 'idle_since', 'status', 'disabled')
  out[#out + 1] = a[1] or ''
  out[#out + 1] = a[2] or ''
  out[#out + 1] = a[3] or ''
  out[#out + 1] = a[4] or ''
  out[#out + 1] = redis.call('SCARD', KEYS[i + 1])
end
return out
