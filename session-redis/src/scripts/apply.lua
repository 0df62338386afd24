-- apply.lua: writes a delta (only the changed keys) to an active session,
-- pushing its idle deadline only when less than the refresh threshold
-- remains (or its idle timeout changed); refuses an ended or unknown one
-- and never re-creates it (guarantees 1, 2 and 7). Steady state: HGET and
-- one HSET.
-- KEYS: 1 session, 2-4 the bucket's analytics
-- ARGV: 1 now, 2 retention ms, 3 refresh threshold ms, 4 the '@' the
--       request loaded ('' = none), 5… the delta (see apply_delta)
-- Reply: {'unknown'} | {'ended', reason, at} | 1 (kept: the deadlines did
--        not move) | {'ok', idle deadline, absolute deadline}
--
-- The steady state first: the caller sends the '@' it loaded only when
-- the delta changes data alone and it judged those times live with no
-- refresh due at `now`; while the stored '@' is still that one, that
-- judgement holds, so the data is written at once (HGET, HSET: 1, the
-- deadlines unchanged; one key set, the usual save, skips building the
-- argument table, and an integer reply skips a table: together about a
-- third of the call's cost in Redis). Anything else (a tombstone has no '@'; a refresh,
-- a rotation or an expiry changed it) gets the judgement, which scripts.rs
-- wraps in a function so that its helpers are only defined when it runs.
if ARGV[4] ~= '' and redis.call('HGET', KEYS[1], '@') == ARGV[4] then
  if ARGV[7] == '1' and ARGV[10] == '0' then
    redis.call('HSET', KEYS[1], 'd:' .. ARGV[8], ARGV[9])
    return 1
  end
  local sets, dels = {}, {}
  local j = 8
  for _ = 1, tonumber(ARGV[7]) do
    sets[#sets + 1] = 'd:' .. ARGV[j]
    sets[#sets + 1] = ARGV[j + 1]
    j = j + 2
  end
  local m = tonumber(ARGV[j])
  for i = j + 1, j + m do dels[#dels + 1] = 'd:' .. ARGV[i] end
  if #sets > 0 then redis.call('HSET', KEYS[1], unpack(sets)) end
  if #dels > 0 then redis.call('HDEL', KEYS[1], unpack(dels)) end
  return 1
end
-- @judge
local st = stats_at(2)
local key, now = KEYS[1], tonumber(ARGV[1])
local h = head(key)
local status, reason, at = classify(st, key, h, now, tonumber(ARGV[2]))
if status ~= 'live' then return { status, reason, at } end
local idle_changed = apply_delta(key, h, 5, true)
local idl = tonumber(h['@idl'])
if idle_changed or refresh_due(h, now, tonumber(ARGV[3])) then
  idl = touch(st, key, h, now)
  if idle_changed and h['@ukey'] then user_changed(st, h['@user'], h['@ukey'], now) end
end
return { 'ok', idl, tonumber(h['@abs']) }
