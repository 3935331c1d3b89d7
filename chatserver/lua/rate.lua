-- A visitor rates a chat that has ended (post-chat survey) and the rating goes to the
-- records outbox, so it reaches the record even if that was written already.
local chat_key = KEYS[1]      -- chat hash
local outbox_key = KEYS[2]    -- outbox stream
local chat_id = ARGV[1]
local visitor_id = ARGV[2]
local rating = ARGV[3]        -- 1-5
local comment = ARGV[4]
local now = ARGV[5]           -- ms
local window = ARGV[6]        -- rating window (ms)
local nps = ARGV[7]           -- likelihood to recommend (0-10); '' = not answered
-- Returns 'ok', 'not_found', 'forbidden', 'not_ended' or 'too_late'.
local chat = redis.call('HMGET', chat_key, 'state', 'visitor', 'ended_at')
if not chat[1] then return 'not_found' end
if chat[2] ~= visitor_id then return 'forbidden' end
if chat[1] ~= 'closed' and chat[1] ~= 'abandoned' and chat[1] ~= 'missed' then
  return 'not_ended'
end
if tonumber(now) - tonumber(chat[3] or '0') > tonumber(window) then return 'too_late' end
redis.call('HSET', chat_key, 'rating', rating, 'rating_comment', comment, 'rated_at', now)
if nps ~= '' then redis.call('HSET', chat_key, 'nps', nps) end
redis.call('XADD', outbox_key, '*', 'chat', chat_id, 'kind', 'rating', 'rating', rating,
  'comment', comment, 'ts', now, 'nps', nps)
return 'ok'
