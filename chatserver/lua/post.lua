-- Append a message to a chat's log exactly once and publish it.
-- KEYS[1] = chat log stream   KEYS[2] = client id -> seq hash   KEYS[3] = chat meta hash
-- KEYS[4] = chat channel (a channel, passed here so it shares the chat's slot)
-- ARGV[1] = chat id    ARGV[2] = sender role   ARGV[3] = sender id   ARGV[4] = sender name
-- ARGV[5] = client message id   ARGV[6] = text   ARGV[7] = kind (message/note/whisper/system)
-- ARGV[8] = audience ('a' = everyone, 'g' = agents and supervisors only)
-- ARGV[9] = now (ms)   ARGV[10] = epoch   ARGV[11] = log max length   ARGV[12] = key ttl (s)
-- ARGV[13] = '1' to skip the participant check (system messages)
-- ARGV[14] = id of the connection that sent it ('' or absent: none), stored and published
--             so that this connection is not sent its own message back (it has the ack)
-- Returns {'ok', seq}, {'dup', seq}, {'forbidden', 0} or {'closed', 0}.
--
-- Sequence numbers only grow.  When the hub reports a newer epoch (the Redis server
-- restarted, so writes after its last fsync may be gone) the sequence jumps by 1000, so a
-- number a client saw before the restart is never given to a different message.
local dedup = ARGV[2] .. ':' .. ARGV[3] .. ':' .. ARGV[5]
local seen = redis.call('HGET', KEYS[2], dedup)
if seen then return {'dup', tonumber(seen)} end
local meta = redis.call('HMGET', KEYS[3], 'seq', 'epoch', 'open', 'p:' .. ARGV[2] .. ':' .. ARGV[3])
if meta[3] ~= '1' then return {'closed', 0} end
if ARGV[13] ~= '1' and meta[4] ~= '1' then return {'forbidden', 0} end
local seq = tonumber(meta[1] or '0')
local epoch = tonumber(ARGV[10])
local known = tonumber(meta[2] or '-1')
if known >= 0 and epoch > known then seq = seq + 1000 end
seq = seq + 1
if epoch < known then epoch = known end
local frame = cmsgpack.pack({
  type = 'msg', chat = ARGV[1], seq = seq, cid = ARGV[5], text = ARGV[6], kind = ARGV[7],
  ts = tonumber(ARGV[9]), internal = (ARGV[8] == 'g'),
  from = {role = ARGV[2], id = ARGV[3], name = ARGV[4]}})
local origin = ARGV[14] or ''
if origin ~= '' then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[11], seq .. '-0', 'a', ARGV[8], 'f', frame,
    'o', origin)
else
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[11], seq .. '-0', 'a', ARGV[8], 'f', frame)
end
redis.call('HSET', KEYS[2], dedup, seq)
redis.call('HSET', KEYS[3], 'seq', seq, 'epoch', epoch, 'last_ts', ARGV[9],
  'last_role', ARGV[2])
for k = 1, 3 do redis.call('EXPIRE', KEYS[k], ARGV[12]) end
redis.call('PUBLISH', KEYS[4], ARGV[8] .. seq .. '|' .. origin .. '|' .. frame)
return {'ok', seq}
