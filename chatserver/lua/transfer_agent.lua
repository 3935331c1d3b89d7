-- Move an active chat from its agent to another named agent with free capacity.
-- KEYS[1] = chat hash   KEYS[2] = old agent chats set   KEYS[3] = new agent chats set
-- KEYS[4] = new agent hash   KEYS[5] = available set   KEYS[6] = idle zset
-- KEYS[7] = event stream   KEYS[8] = chat history list
-- ARGV[1] = chat id   ARGV[2] = agent expected to hold it ('' = whoever holds it)
-- ARGV[3] = new agent id   ARGV[4] = now (ms)   ARGV[5] = allowed source states
-- ARGV[6] = target state   ARGV[7] = idle deadline (ms)   ARGV[8] = event log max length
-- ARGV[9] = holder the caller read   ARGV[10] = who transfers (role:id)
-- ARGV[11] = the transfer note ('' = none)
-- Besides the 'transfer' entry the history gets a 'handoff' entry for the record's trace:
-- handoff|ms|by|{"from": old agent, "to": new agent, "topic": "", "note": note}.
-- Returns {'ok', old agent} or {reason, ''}.
local chat = redis.call('HMGET', KEYS[1], 'state', 'agent')
if not chat[1] then return {'not_found', ''} end
local ok = false
for s in string.gmatch(ARGV[5], '[^,]+') do if s == chat[1] then ok = true end end
if not ok then return {'invalid_state', ''} end
local holder = chat[2] or ''
if ARGV[2] ~= '' and holder ~= ARGV[2] then return {'not_yours', ''} end
if holder ~= ARGV[9] then return {'retry', ''} end
if holder == ARGV[3] then return {'same_agent', ''} end
if redis.call('SISMEMBER', KEYS[5], ARGV[3]) == 0 then return {'agent_unavailable', ''} end
local agent = redis.call('HMGET', KEYS[4], 'capacity', 'disabled', 'status')
local capacity = tonumber(agent[1] or '0')
local load = redis.call('SCARD', KEYS[3])
if agent[2] == '1' or agent[3] ~= 'online' then return {'agent_unavailable', ''} end
if load >= capacity then return {'agent_full', ''} end
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[4], 'idle_since', ARGV[4])
redis.call('HSET', KEYS[1], 'state', ARGV[6], 'agent', ARGV[3])
redis.call('ZADD', KEYS[6], ARGV[7], ARGV[1])
redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[8], '*',
  't', 'release', 'chat', ARGV[1], 'agent', holder, 'reason', 'transfer', 'ts', ARGV[4])
redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[8], '*',
  't', 'assign', 'chat', ARGV[1], 'agent', ARGV[3], 'state', ARGV[6],
  'load', tostring(load + 1), 'cap', tostring(capacity), 'ts', ARGV[4])
redis.call('RPUSH', KEYS[8], 'transfer|' .. ARGV[4] .. '|' .. holder .. '|' .. ARGV[3])
redis.call('RPUSH', KEYS[8], 'handoff|' .. ARGV[4] .. '|' .. (ARGV[10] or '') .. '|' ..
  cjson.encode({from = holder, to = ARGV[3], topic = '', note = ARGV[11] or ''}))
return {'ok', holder}
