-- Refresh one agent's live connections on this process.  A connection the sweeper dropped
-- during a stall (longer than the presence TTL) comes back, and so does the agent's
-- availability if their status still says so (the rule: chatserver/core/agent_presence.py).
-- Returns 1 when the agent became available again (the caller drains the queues).
local agent_key = KEYS[1]          -- agent hash
local conns_key = KEYS[2]          -- agent connections zset
local presence_key = KEYS[3]       -- presence zset
local graces_key = KEYS[4]         -- graces zset
local available_key = KEYS[5]      -- available set
local agent_id = ARGV[1]
local expiry = ARGV[2]             -- (ms)
local receives = ARGV[3]           -- statuses in which a connected agent is available
local conn_ids = rest(ARGV, 3)     -- this process's live connections of the agent

for _, conn_id in ipairs(conn_ids) do
  redis.call('ZADD', conns_key, expiry, conn_id)
end
redis.call('ZADD', presence_key, 'GT', expiry, agent_id)
redis.call('ZREM', graces_key, agent_id)
local agent = redis.call('HMGET', agent_key, 'status', 'disabled')
if agent[1] and state_in(receives, agent[1]) and agent[2] ~= '1' then
  return redis.call('SADD', available_key, agent_id)
end
return 0
