-- Delete a topic, unless chats wait in its queue (checked in the same step, so a chat
-- queued meanwhile is never left in the queue of a topic that no longer exists).
local topics_key = KEYS[1]      -- topics hash
local queue_key = KEYS[2]       -- the topic's queue zset
local name = ARGV[1]
-- Returns {'ok', 1 | 0 (there was no such topic)} or {'in_use', chats waiting}.
local waiting = redis.call('ZCARD', queue_key)
if waiting > 0 then return {'in_use', waiting} end
return {'ok', redis.call('HDEL', topics_key, name)}
