-- Register one console connection of an agent (several tabs are one agent).
-- The status rules come from chatserver/core/agent_presence.py (lua_rules).
-- Returns {status, became_available (0/1)}; status 'disabled' refuses the connection.
local agent_key = KEYS[1]          -- agent hash
local conns_key = KEYS[2]          -- agent connections zset
local presence_key = KEYS[3]       -- presence zset
local graces_key = KEYS[4]         -- graces zset
local available_key = KEYS[5]      -- available set
local status_log_key = KEYS[6]     -- status log stream
local agent_id = ARGV[1]
local conn_id = ARGV[2]
local expiry = ARGV[3]             -- connection expiry (ms)
local now = ARGV[4]                -- (ms)
local unset = ARGV[5]              -- the status of an agent without one
local receives = ARGV[6]           -- statuses in which a connected agent is available
local connect_from = ARGV[7]       -- statuses a connect changes ...
local connect_to = ARGV[8]         -- ... into this one

local agent = redis.call('HMGET', agent_key, 'status', 'disabled')
if agent[2] == '1' then return {'disabled', 0} end
redis.call('ZREMRANGEBYSCORE', conns_key, '-inf', now)
redis.call('ZADD', conns_key, expiry, conn_id)
redis.call('ZADD', presence_key, 'GT', expiry, agent_id)
redis.call('ZREM', graces_key, agent_id)
local status = agent[1] or unset
if state_in(connect_from, status) then
  status = connect_to
  redis.call('HSET', agent_key, 'status', status, 'status_at', now)
  redis.call('XADD', status_log_key, '*', 'agent', agent_id, 'status', status, 'ts', now)
end
local became = 0
if state_in(receives, status) then
  became = redis.call('SADD', available_key, agent_id)
end
return {status, became}
