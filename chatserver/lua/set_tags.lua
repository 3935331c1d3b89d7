-- Replace a live chat's tags (the agent holding it, or a supervisor).  They travel with the
-- chat through transfers and requeues; the close merges them with the tags it carries.
-- KEYS[1] = chat hash
-- ARGV[1] = tags (JSON list)   ARGV[2] = allowed states   ARGV[3] = required holder ('' = any)
-- Returns 'ok' or a reason: not_found, invalid_state, not_yours.
local chat = redis.call('HMGET', KEYS[1], 'state', 'agent')
if not chat[1] then return 'not_found' end
local ok = false
for s in string.gmatch(ARGV[2], '[^,]+') do if s == chat[1] then ok = true end end
if not ok then return 'invalid_state' end
if ARGV[3] ~= '' and (chat[2] or '') ~= ARGV[3] then return 'not_yours' end
redis.call('HSET', KEYS[1], 'tags', ARGV[1])
return 'ok'
