-- An agent accepts the chat offered to them.
-- KEYS[1] = chat hash   KEYS[2] = offers zset   KEYS[3] = idle zset   KEYS[4] = event stream
-- KEYS[5] = chat history list
-- ARGV[1] = chat id     ARGV[2] = agent id      ARGV[3] = now (ms)
-- ARGV[4] = allowed source states   ARGV[5] = target state   ARGV[6] = idle deadline (ms)
-- ARGV[7] = event log max length
-- Returns 'ok', 'not_found', 'invalid_state' or 'not_yours'.
local chat = redis.call('HMGET', KEYS[1], 'state', 'agent')
if not chat[1] then return 'not_found' end
local ok = false
for s in string.gmatch(ARGV[4], '[^,]+') do if s == chat[1] then ok = true end end
if not ok then return 'invalid_state' end
if chat[2] ~= ARGV[2] then return 'not_yours' end
redis.call('HSET', KEYS[1], 'state', ARGV[5], 'accepted_at', ARGV[3])
redis.call('HDEL', KEYS[1], 'offer_deadline')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[1])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*',
  't', 'accept', 'chat', ARGV[1], 'agent', ARGV[2], 'ts', ARGV[3])
redis.call('RPUSH', KEYS[5], 'accept|' .. ARGV[3] .. '|' .. ARGV[2] .. '|')
return 'ok'
