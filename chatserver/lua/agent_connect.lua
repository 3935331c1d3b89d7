-- Register one console connection of an agent (several tabs are one agent).
local agent_key = KEYS[1]      -- agent hash
local conns_key = KEYS[2]      -- agent connections zset
local presence_key = KEYS[3]   -- presence zset
local graces_key = KEYS[4]     -- graces zset
local available_key = KEYS[5]  -- available set
local status_log_key = KEYS[6] -- status log stream
local agent_id = ARGV[1]
local conn_id = ARGV[2]
local expiry = ARGV[3]         -- connection expiry (ms)
local now = ARGV[4]            -- ms
-- Returns {status, became_available (0/1)}; status 'disabled' refuses the connection.
local agent = redis.call('HMGET', KEYS[1], 'status', 'disabled')
if agent[2] == '1' then return {'disabled', 0} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[3], 'GT', ARGV[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
local status = agent[1]
if not status or status == 'offline' then
  status = 'online'
  redis.call('HSET', KEYS[1], 'status', 'online', 'status_at', ARGV[4])
  redis.call('XADD', KEYS[6], '*', 'agent', ARGV[1], 'status', 'online', 'ts', ARGV[4])
end
local became = 0
if status == 'online' then
  became = redis.call('SADD', KEYS[5], ARGV[1])
end
return {status, became}
