-- A visitor asks for an ended chat's transcript by e-mail.  The request goes to the
-- records outbox behind the chat's own entry, so the records writer handles it once the
-- record is written (in the same transaction it queues the e-mail; the mailer sends it).
local chat_key = KEYS[1]      -- chat hash
local outbox_key = KEYS[2]    -- outbox stream
local chat_id = ARGV[1]
local visitor_id = ARGV[2]
local email = ARGV[3]         -- checked by the caller
local now = ARGV[4]           -- ms
local max = tonumber(ARGV[5]) -- requests allowed per chat
-- Returns 'ok', 'not_found', 'forbidden', 'not_ended' or 'too_many'.
local chat = redis.call('HMGET', chat_key, 'state', 'visitor', 'transcripts')
if not chat[1] then return 'not_found' end
if chat[2] ~= visitor_id then return 'forbidden' end
if chat[1] ~= 'closed' and chat[1] ~= 'abandoned' and chat[1] ~= 'missed' then
  return 'not_ended'
end
if tonumber(chat[3] or '0') >= max then return 'too_many' end
redis.call('HINCRBY', chat_key, 'transcripts', 1)
redis.call('XADD', outbox_key, '*', 'chat', chat_id, 'kind', 'transcript', 'email', email,
  'ts', now)
return 'ok'
