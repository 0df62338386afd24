-- apply.lua: writes a delta (only the changed keys) to an active session,
-- pushing its idle deadline only when less than the refresh threshold
-- remains (or its idle timeout changed); refuses an ended or unknown one
-- and never re-creates it (guarantees 1, 2 and 7). Steady state: HMGET and
-- one HSET.
-- KEYS: 1 session, 2-4 the bucket's analytics
-- ARGV: 1 now, 2 retention ms, 3 refresh threshold ms, 4… the delta (see
--       apply_delta)
-- Reply: {'unknown'} | {'ended', reason, at} | {'ok', idle deadline, absolute deadline}
local st = stats_at(2)
local key, now = KEYS[1], tonumber(ARGV[1])
local h = head(key)
local status, reason, at = classify(st, key, h, now, tonumber(ARGV[2]))
if status ~= 'live' then return { status, reason, at } end
local idle_changed = apply_delta(key, h, 4, true)
local idl = tonumber(h['@idl'])
if idle_changed or refresh_due(h, now, tonumber(ARGV[3])) then
  idl = touch(st, key, h, now)
  if idle_changed and h['@ukey'] then user_changed(st, h['@user'], h['@ukey'], now) end
end
return { 'ok', idl, tonumber(h['@abs']) }
