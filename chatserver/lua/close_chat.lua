-- End a chat: closed, abandoned or missed.  Frees the agent's capacity, removes the chat
-- from every queue and timer, clears the visitor's open chat and hands the chat to the
-- outbox for its interaction record.
-- KEYS[1] = chat hash        KEYS[2] = chat declined set   KEYS[3] = agent chats set (holder)
-- KEYS[4] = queue zset       KEYS[5] = offers zset         KEYS[6] = idle zset
-- KEYS[7] = relax zset       KEYS[8] = queue deadlines     KEYS[9] = live chats set
-- KEYS[10] = visitor hash    KEYS[11] = event stream       KEYS[12] = outbox stream
-- KEYS[13] = chat joined set (supervisors)   KEYS[14] = chat history list
-- KEYS[15] = visitor connections zset        KEYS[16] = visitors gone zset
-- ARGV[1] = chat id          ARGV[2] = now (ms)            ARGV[3] = allowed source states
-- ARGV[4] = target state     ARGV[5] = event name          ARGV[6] = closed by (role:id)
-- ARGV[7] = outcome          ARGV[8] = tags (JSON)         ARGV[9] = holder agent the
--   caller read ('' = none)  ARGV[10] = required holder ('' = anyone may close)
-- ARGV[11] = retention (s)   ARGV[12] = event log max length
-- ARGV[13] = '1': only if the visitor has no live connection (their gone timer), else
--   'visitor_back'
-- The visitor's gone mark is dropped: their chat has ended.
-- The record's tags are the chat's stored tags (``set_tags``, kept across transfers)
-- followed by those of ARGV[8] not among them.
-- Returns {'ok', holder agent, topic, visitor} or {reason, '', '', ''}.
local chat = redis.call('HMGET', KEYS[1], 'state', 'agent', 'topic', 'visitor')
if not chat[1] then return {'not_found', '', '', ''} end
local ok = false
for s in string.gmatch(ARGV[3], '[^,]+') do if s == chat[1] then ok = true end end
if not ok then return {'invalid_state', '', '', ''} end
local holder = chat[2] or ''
if ARGV[10] ~= '' and holder ~= ARGV[10] then return {'not_yours', '', '', ''} end
if holder ~= ARGV[9] then return {'retry', '', '', ''} end
if ARGV[13] == '1' and redis.call('ZCOUNT', KEYS[15], '(' .. ARGV[2], '+inf') > 0 then
  return {'visitor_back', '', '', ''}
end
if holder ~= '' then redis.call('SREM', KEYS[3], ARGV[1]) end
local tags = ARGV[8]
local stored = redis.call('HGET', KEYS[1], 'tags')
if stored and stored ~= '' and stored ~= '[]' then
  local merged, seen = {}, {}
  for _, list in ipairs({cjson.decode(stored), cjson.decode(ARGV[8])}) do
    for _, t in ipairs(list) do
      if not seen[t] then seen[t] = true; merged[#merged + 1] = t end
    end
  end
  tags = cjson.encode(merged)
end
redis.call('HSET', KEYS[1], 'state', ARGV[4], 'ended_at', ARGV[2], 'ended_by', ARGV[6],
  'outcome', ARGV[7], 'tags', tags, 'end_event', ARGV[5])
redis.call('HDEL', KEYS[1], 'offer_deadline')
for k = 4, 8 do redis.call('ZREM', KEYS[k], ARGV[1]) end
redis.call('SREM', KEYS[9], ARGV[1])
redis.call('ZREM', KEYS[16], chat[4] or '')
if redis.call('HGET', KEYS[10], 'chat') == ARGV[1] then
  redis.call('HDEL', KEYS[10], 'chat')
end
redis.call('EXPIRE', KEYS[1], ARGV[11])
redis.call('EXPIRE', KEYS[2], ARGV[11])
redis.call('DEL', KEYS[13])
redis.call('RPUSH', KEYS[14], 'end|' .. ARGV[2] .. '|' .. holder .. '|' .. ARGV[4])
redis.call('EXPIRE', KEYS[14], ARGV[11])
redis.call('XADD', KEYS[11], 'MAXLEN', '~', ARGV[12], '*',
  't', 'end', 'chat', ARGV[1], 'agent', holder, 'state', ARGV[4], 'reason', ARGV[5],
  'ts', ARGV[2])
redis.call('XADD', KEYS[12], '*', 'chat', ARGV[1], 'state', ARGV[4], 'ts', ARGV[2])
return {'ok', holder, chat[3] or '', chat[4] or ''}
