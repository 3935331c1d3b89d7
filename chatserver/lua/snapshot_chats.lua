#!lua flags=no-writes
-- The routing view of queued chats, read in one step for a routing pass.
-- one group per chat:
local chats = each(KEYS, 0, {'chat_key', 'chat_declined_key'})
-- Returns a flat list, four entries per chat in KEYS order:
--   required skills, optional skills ('' when unset), relaxed ('1' or ''),
--   the agents who declined it (a list)
local out = {}
for _, k in ipairs(chats) do
  local c = redis.call('HMGET', k.chat_key, 'req', 'opt', 'relaxed')
  out[#out + 1] = c[1] or ''
  out[#out + 1] = c[2] or ''
  out[#out + 1] = c[3] or ''
  out[#out + 1] = redis.call('SMEMBERS', k.chat_declined_key)
end
return out
