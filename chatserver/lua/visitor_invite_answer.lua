-- A visitor accepts or declines an invitation: only the pending one (by id) is answered,
-- once; the answer stays on the visit for the site list.
local visit_key = KEYS[1]      -- the visitor's visit hash
local invite_id = ARGV[1]
local answer = ARGV[2]         -- 'accepted' or 'declined'
-- Returns the inviting agent's id, or false when that invitation is not pending.
local pending = redis.call('HMGET', visit_key, 'invite', 'invite_agent')
if pending[1] ~= invite_id then return false end
redis.call('HDEL', visit_key, 'invite', 'invite_at')
redis.call('HSET', visit_key, 'answer', answer)
return pending[2]
