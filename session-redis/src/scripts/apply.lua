-- apply.lua: writes a delta (only the changed keys) to an active session and
-- pushes its idle deadline; refuses an ended or unknown one and never
-- re-creates it (guarantees 1 and 2).
-- KEYS: 1 session, 2-4 the bucket's analytics
-- ARGV: 1 now, 2 retention ms, 3… the delta (see apply_delta)
-- Reply: {'unknown'} | {'ended', reason, at} | {'ok', idle deadline, absolute deadline}
local st = stats_at(2)
local key, now = KEYS[1], tonumber(ARGV[1])
local h = head(key)
local status, reason, at = classify(st, key, h, now, tonumber(ARGV[2]))
if status ~= 'live' then return { status, reason, at } end
local idle_changed = apply_delta(key, h, 3, true)
local idl = touch(st, key, h, now)
if idle_changed and h['@ukey'] then user_changed(st, h['@user'], h['@ukey'], now) end
return { 'ok', idl, tonumber(h['@abs']) }
