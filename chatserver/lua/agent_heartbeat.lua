-- Refresh one agent's live connections on this process.  A connection the sweeper dropped
-- during a stall (longer than the presence TTL) comes back, and so does the agent's
-- availability if their status is still online.
local agent_key = KEYS[1]      -- agent hash
local conns_key = KEYS[2]      -- agent connections zset
local presence_key = KEYS[3]   -- presence zset
local graces_key = KEYS[4]     -- graces zset
local available_key = KEYS[5]  -- available set
local agent_id = ARGV[1]
local expiry = ARGV[2]         -- ms
local conn_ids = rest(ARGV, 2) -- the agent's connection ids on this process
-- Returns 1 when the agent became available again (the caller drains the queues).
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[i])
end
redis.call('ZADD', KEYS[3], 'GT', ARGV[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
local agent = redis.call('HMGET', KEYS[1], 'status', 'disabled')
if agent[1] == 'online' and agent[2] ~= '1' then
  return redis.call('SADD', KEYS[5], ARGV[1])
end
return 0
