-- Append a message to a chat's log exactly once and publish it.
local log_key = KEYS[1]       -- chat log stream
local ids_key = KEYS[2]       -- client id -> seq hash
local meta_key = KEYS[3]      -- chat meta hash
local channel = KEYS[4]       -- chat channel (passed here so it shares the chat's slot)
local chat_id = ARGV[1]
local role = ARGV[2]          -- sender role
local sender_id = ARGV[3]
local sender_name = ARGV[4]
local cid = ARGV[5]           -- client message id
local text = ARGV[6]
local kind = ARGV[7]          -- message/note/whisper/system
local audience = ARGV[8]      -- 'a' = everyone, 'g' = agents and supervisors only
local now = ARGV[9]           -- ms
local epoch = tonumber(ARGV[10])
local log_max = ARGV[11]      -- log max length
local ttl = ARGV[12]          -- key ttl (s)
local system = ARGV[13]       -- '1' to skip the participant check (system messages)
local origin = ARGV[14] or '' -- id of the connection that sent it ('' or absent: none),
                              -- stored and published so that this connection is not
                              -- sent its own message back (it has the ack)
local publish = ARGV[15] or '' -- 'PUBLISH', or 'SPUBLISH' on a cluster (sharded pub/sub; set by
                              -- Scripts); absent (a caller passing 13 or 14): 'PUBLISH'
local file = ARGV[16] or ''    -- an attachment: its msgpack map {id, name, size, type}, or ''
-- Returns {'ok', seq}, {'dup', seq}, {'forbidden', 0} or {'closed', 0}.
--
-- Sequence numbers only grow.  When the hub reports a newer epoch (the Redis server
-- restarted, so writes after its last fsync may be gone) the sequence jumps by 1000, so a
-- number a client saw before the restart is never given to a different message.  On a
-- cluster (SPUBLISH) the epoch follows the routing slot's master only, so the chat's meta
-- also keeps the id of the node that wrote its last message: when another node writes
-- next (the replica promoted after its master failed, maybe without the master's last
-- messages), the sequence jumps to at least the server's clock in ms since 2026-01-01.
-- A fixed jump would not do: a replica that lost the messages written after an earlier
-- jump (a slot move, say) would make the same jump from the same base again.  The
-- clock's jump stays above every number the lost node gave out unless that node gave
-- one chat more messages than milliseconds passed before the failover (seconds).
if publish == '' then publish = 'PUBLISH' end
local dedup = role .. ':' .. sender_id .. ':' .. cid
local seen = redis.call('HGET', ids_key, dedup)
if seen then return {'dup', tonumber(seen)} end
local meta = redis.call('HMGET', meta_key, 'seq', 'epoch', 'open', 'p:' .. role .. ':' .. sender_id,
  'node')
if meta[3] ~= '1' then return {'closed', 0} end
if system ~= '1' and meta[4] ~= '1' then return {'forbidden', 0} end
local seq = tonumber(meta[1] or '0')
local known = tonumber(meta[2] or '-1')
if known >= 0 and epoch > known then seq = seq + 1000 end
local node = ''
if publish == 'SPUBLISH' then node = redis.call('CLUSTER', 'MYID') end
if meta[5] and meta[5] ~= node then
  local t = redis.call('TIME')
  local clock = (tonumber(t[1]) - 1767225600) * 1000 + math.floor(tonumber(t[2]) / 1000)
  seq = math.max(seq + 1000, clock)
end
seq = seq + 1
if epoch < known then epoch = known end
local msg = {
  type = 'msg', chat = chat_id, seq = seq, cid = cid, text = text, kind = kind,
  ts = tonumber(now), internal = (audience == 'g'),
  from = {role = role, id = sender_id, name = sender_name}}
if file ~= '' then msg.file = cmsgpack.unpack(file) end
local frame = cmsgpack.pack(msg)
if origin ~= '' then
  redis.call('XADD', log_key, 'MAXLEN', '~', log_max, seq .. '-0', 'a', audience, 'f', frame,
    'o', origin)
else
  redis.call('XADD', log_key, 'MAXLEN', '~', log_max, seq .. '-0', 'a', audience, 'f', frame)
end
redis.call('HSET', ids_key, dedup, seq)
redis.call('HSET', meta_key, 'seq', seq, 'epoch', epoch, 'last_ts', now, 'last_role', role)
if node ~= '' then redis.call('HSET', meta_key, 'node', node) end
for _, key in ipairs({log_key, ids_key, meta_key}) do redis.call('EXPIRE', key, ttl) end
redis.call(publish, channel, audience .. seq .. '|' .. origin .. '|' .. frame)
return {'ok', seq}
