-- Record a message left when nobody could answer: a chat that starts and ends at once in
-- the state 'offline' (core/lifecycle.py: a terminal state no event leaves).  The caller
-- stores the message text in the chat's log, then hands the chat to the outbox (so the
-- record carries the text).
-- KEYS[1] = chat hash   KEYS[2] = chat history list   KEYS[3] = event stream
-- ARGV[1] = chat id     ARGV[2] = visitor id   ARGV[3] = topic   ARGV[4] = details (JSON)
-- ARGV[5] = now (ms)    ARGV[6] = retention (s)   ARGV[7] = event log max length
-- ARGV[8] = the state ('offline')
-- Returns 1, or 0 if the chat id is taken.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'state', ARGV[8], 'visitor', ARGV[2],
  'topic', ARGV[3], 'priority', '0', 'req', '', 'opt', '', 'relaxed', '0',
  'created', ARGV[5], 'ended_at', ARGV[5], 'ended_by', 'visitor:' .. ARGV[2],
  'outcome', 'offline_message', 'tags', '[]', 'details', ARGV[4])
redis.call('RPUSH', KEYS[2], 'created|' .. ARGV[5] .. '||' .. ARGV[3])
redis.call('RPUSH', KEYS[2], 'end|' .. ARGV[5] .. '||' .. ARGV[8])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*',
  't', 'offline', 'chat', ARGV[1], 'ts', ARGV[5])
return 1
