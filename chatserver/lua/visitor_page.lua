-- A visitor viewed a page (VISITOR_TRACKING): their visit is updated, or a new one starts
-- when they had none within the idle time, and they go to the top of the site list, which
-- keeps the `max` most recent (and none idle for longer than a visit lasts).
local onsite_key = KEYS[1]     -- site list zset: visitor id -> latest page view (ms)
local visit_key = KEYS[2]      -- the visitor's visit hash
local visitor_key = KEYS[3]    -- visitor hash
local visitor_id = ARGV[1]
local now = tonumber(ARGV[2])  -- ms
local url = ARGV[3]
local title = ARGV[4]
local lang = ARGV[5]           -- '' = keep the one known
local known = ARGV[6]          -- '1': the visitor's token existed before this connection
local idle = tonumber(ARGV[7]) -- a visit ends after this long without a page view (ms)
local hash_ttl = ARGV[8]       -- visitor hash ttl (s)
local max = tonumber(ARGV[9])  -- longest site list
-- Returns {returning (0/1), page count of the visit}.
if redis.call('HEXISTS', visit_key, 'first') == 0 then
  local visits = redis.call('HINCRBY', visitor_key, 'visits', 1)
  redis.call('EXPIRE', visitor_key, hash_ttl)
  local returning = '0'
  if visits > 1 or known == '1' then returning = '1' end
  redis.call('DEL', visit_key)
  redis.call('HSET', visit_key, 'first', now, 'returning', returning)
end
redis.call('HSET', visit_key, 'last', now, 'url', url, 'title', title)
if lang ~= '' then redis.call('HSET', visit_key, 'lang', lang) end
local count = redis.call('HINCRBY', visit_key, 'count', 1)
redis.call('PEXPIRE', visit_key, idle)
redis.call('ZADD', onsite_key, now, visitor_id)
redis.call('ZREMRANGEBYSCORE', onsite_key, '-inf', now - idle)
redis.call('ZREMRANGEBYRANK', onsite_key, 0, -(max + 1))
return {tonumber(redis.call('HGET', visit_key, 'returning')), count}
