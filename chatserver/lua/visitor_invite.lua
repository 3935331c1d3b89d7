-- An agent invites a visitor to chat: refused beyond the agent's invitations per minute,
-- when the visitor is not on the site (no visit, or no live socket) or is in a chat.  The
-- invitation is kept on the visit (the newest replaces an unanswered one) for the answer.
local visit_key = KEYS[1]      -- the visitor's visit hash
local presence_key = KEYS[2]   -- visitor presence zset (latest socket expiry)
local visitor_key = KEYS[3]    -- visitor hash
local rate_key = KEYS[4]       -- the agent's invitations this minute
local visitor_id = ARGV[1]
local now = tonumber(ARGV[2])  -- ms
local invite_id = ARGV[3]
local agent_id = ARGV[4]
local per_minute = tonumber(ARGV[5])
local window = ARGV[6]         -- the rate counter's lifetime (ms)
-- Returns 'ok', 'rate_limited', 'not_on_site' or 'in_chat'.
local sent = redis.call('INCR', rate_key)
if sent == 1 then redis.call('PEXPIRE', rate_key, window) end
if sent > per_minute then return 'rate_limited' end
local expiry = tonumber(redis.call('ZSCORE', presence_key, visitor_id) or '0')
if expiry < now or redis.call('EXISTS', visit_key) == 0 then return 'not_on_site' end
local chat = redis.call('HGET', visitor_key, 'chat')
if chat and chat ~= '' then return 'in_chat' end
redis.call('HSET', visit_key, 'invite', invite_id, 'invite_agent', agent_id, 'invite_at', now)
redis.call('HDEL', visit_key, 'answer')
return 'ok'
