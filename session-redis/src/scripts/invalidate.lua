-- invalidate.lua: ends one session with a reason (guarantees 1 and 8).
-- KEYS: 1 session, 2-4 the bucket's analytics
-- ARGV: 1 now, 2 retention ms, 3 reason
-- Reply: {'ok', public id ('' when the record has no '@pub': its key's)} |
--        {'none'}
local st = stats_at(2)
local key, now, retention = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local h = head(key)
if classify(st, key, h, now, retention) ~= 'live' then return { 'none' } end
local pub = finish(st, key, h, ARGV[3], now, retention)
if h['@ukey'] then user_changed(st, h['@user'], h['@ukey'], now) end
return { 'ok', pub or '' }
