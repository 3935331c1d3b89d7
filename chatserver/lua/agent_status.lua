-- Set an agent's status (online / away / offline) and keep the available set true to it
-- (the rule: chatserver/core/agent_presence.py).
-- Returns {status, became_available (0/1)}.
local agent_key = KEYS[1]          -- agent hash
local conns_key = KEYS[2]          -- agent connections zset
local available_key = KEYS[3]      -- available set
local status_log_key = KEYS[4]     -- status log stream
local agent_id = ARGV[1]
local new_status = ARGV[2]         -- '' = keep
local now = ARGV[3]                -- (ms)
local unset = ARGV[4]              -- the status of an agent without one
local receives = ARGV[5]           -- statuses in which a connected agent is available

if redis.call('EXISTS', agent_key) == 0 then return {'not_found', 0} end
if new_status ~= '' and redis.call('HGET', agent_key, 'status') ~= new_status then
  redis.call('HSET', agent_key, 'status', new_status, 'status_at', now)
  redis.call('XADD', status_log_key, '*', 'agent', agent_id, 'status', new_status, 'ts', now)
end
local agent = redis.call('HMGET', agent_key, 'status', 'disabled')
redis.call('ZREMRANGEBYSCORE', conns_key, '-inf', now)
local connected = redis.call('ZCARD', conns_key) > 0
local status = agent[1] or unset
if state_in(receives, status) and agent[2] ~= '1' and connected then
  return {status, redis.call('SADD', available_key, agent_id)}
end
redis.call('SREM', available_key, agent_id)
return {status, 0}
