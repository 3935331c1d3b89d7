-- A visitor rates a chat that has ended (post-chat survey) and the rating goes to the
-- records outbox, so it reaches the record even if that was written already.
-- KEYS[1] = chat hash   KEYS[2] = outbox stream
-- ARGV[1] = chat id     ARGV[2] = visitor id   ARGV[3] = rating (1-5)   ARGV[4] = comment
-- ARGV[5] = now (ms)    ARGV[6] = rating window (ms)
-- ARGV[7] = likelihood to recommend (0-10, the NPS answer; '' = not answered)
-- Returns 'ok', 'not_found', 'forbidden', 'not_ended' or 'too_late'.
local chat = redis.call('HMGET', KEYS[1], 'state', 'visitor', 'ended_at')
if not chat[1] then return 'not_found' end
if chat[2] ~= ARGV[2] then return 'forbidden' end
if chat[1] ~= 'closed' and chat[1] ~= 'abandoned' and chat[1] ~= 'missed' then
  return 'not_ended'
end
if tonumber(ARGV[5]) - tonumber(chat[3] or '0') > tonumber(ARGV[6]) then return 'too_late' end
redis.call('HSET', KEYS[1], 'rating', ARGV[3], 'rating_comment', ARGV[4], 'rated_at', ARGV[5])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'nps', ARGV[7]) end
redis.call('XADD', KEYS[2], '*', 'chat', ARGV[1], 'kind', 'rating', 'rating', ARGV[3],
  'comment', ARGV[4], 'ts', ARGV[5], 'nps', ARGV[7])
return 'ok'
