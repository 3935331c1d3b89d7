-- Take, extend or drop the drain lease: one process's drainer routes at a time, so the
-- hubs' drainers do not plan the same queue heads for the same agents at once (the
-- loser's whole commit would be refused, its pass wasted).  Only an optimisation:
-- assign.lua re-checks every pair, so two passes at once stay correct.
local lease_key = KEYS[1]     -- the lease (a string holding its owner)
local owner = ARGV[1]         -- the drainer asking
local ttl = tonumber(ARGV[2]) -- ms to hold it for; 0 = drop it (if ours)
-- Returns 1 when the caller holds the lease now (or dropped it), 0 when another does.
local holder = redis.call('GET', lease_key)
if ttl == 0 then
  if holder == owner then redis.call('DEL', lease_key) end
  return 1
end
if holder and holder ~= owner then return 0 end
redis.call('SET', lease_key, owner, 'PX', ttl)
return 1
