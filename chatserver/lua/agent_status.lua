-- Set an agent's status (online / away / offline) or capacity and keep the available set
-- true to it.
local agent_key = KEYS[1]      -- agent hash
local conns_key = KEYS[2]      -- agent connections zset
local available_key = KEYS[3]  -- available set
local status_log_key = KEYS[4] -- status log stream
local agent_id = ARGV[1]
local status = ARGV[2]         -- '' = keep
local now = ARGV[3]            -- ms
-- Returns {status, became_available (0/1)}.
if redis.call('EXISTS', KEYS[1]) == 0 then return {'not_found', 0} end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'status') ~= ARGV[2] then
  redis.call('HSET', KEYS[1], 'status', ARGV[2], 'status_at', ARGV[3])
  redis.call('XADD', KEYS[4], '*', 'agent', ARGV[1], 'status', ARGV[2], 'ts', ARGV[3])
end
local agent = redis.call('HMGET', KEYS[1], 'status', 'disabled')
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
local connected = redis.call('ZCARD', KEYS[2]) > 0
if agent[1] == 'online' and agent[2] ~= '1' and connected then
  return {agent[1], redis.call('SADD', KEYS[3], ARGV[1])}
end
redis.call('SREM', KEYS[3], ARGV[1])
return {agent[1] or 'offline', 0}
