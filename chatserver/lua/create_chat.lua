-- Create a chat and put it in its queue, unless the visitor already has an open chat.
-- KEYS[1] = chat hash            KEYS[2] = queue zset          KEYS[3] = visitor hash
-- KEYS[4] = live chats set       KEYS[5] = relax zset          KEYS[6] = queue deadlines zset
-- KEYS[7] = routing event stream   KEYS[8] = chat history list
-- ARGV[1] = chat id     ARGV[2] = visitor id   ARGV[3] = topic     ARGV[4] = priority
-- ARGV[5] = required skills ("a:1,b:0")        ARGV[6] = optional skills
-- ARGV[7] = now (ms)    ARGV[8] = queue score  ARGV[9] = relax at (ms, 0 = never)
-- ARGV[10] = missed at (ms)                    ARGV[11] = visitor details (JSON)
-- ARGV[12] = visitor key ttl (s)               ARGV[13] = event log max length
-- Returns {1, chat id} when created, {0, open chat id} when the visitor already has one.
local open = redis.call('HGET', KEYS[3], 'chat')
if open and open ~= '' then
  return {0, open}
end
redis.call('HSET', KEYS[1],
  'id', ARGV[1], 'state', 'queued', 'visitor', ARGV[2], 'topic', ARGV[3],
  'priority', ARGV[4], 'req', ARGV[5], 'opt', ARGV[6], 'relaxed', '0',
  'created', ARGV[7], 'queued_at', ARGV[7], 'score', ARGV[8], 'details', ARGV[11])
redis.call('ZADD', KEYS[2], ARGV[8], ARGV[1])
redis.call('HSET', KEYS[3], 'chat', ARGV[1], 'seen', ARGV[7])
redis.call('EXPIRE', KEYS[3], ARGV[12])
redis.call('SADD', KEYS[4], ARGV[1])
if tonumber(ARGV[9]) > 0 then
  redis.call('ZADD', KEYS[5], ARGV[9], ARGV[1])
end
redis.call('ZADD', KEYS[6], ARGV[10], ARGV[1])
redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[13], '*',
  't', 'created', 'chat', ARGV[1], 'topic', ARGV[3], 'ts', ARGV[7])
redis.call('RPUSH', KEYS[8], 'created|' .. ARGV[7] .. '||' .. ARGV[3])
return {1, ARGV[1]}
