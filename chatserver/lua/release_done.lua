-- The sweeper checked a released agent's participation (core/released.py): drop its note,
-- unless a newer release of the same agent from the same chat moved the note's due time.
local released_key = KEYS[1]   -- agents released from active chats
local note = ARGV[1]           -- '<chat>|<agent>'
local due = ARGV[2]            -- the due time (ms) the sweeper read
-- Returns 1 if dropped, 0 if it was moved (or is gone).
if redis.call('ZSCORE', released_key, note) ~= due then return 0 end
return redis.call('ZREM', released_key, note)
