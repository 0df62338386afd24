-- apply.lua: writes a delta (only the changed keys) to an active session,
-- pushing its idle deadline only when less than the refresh threshold
-- remains (or its idle timeout changed); refuses an ended or unknown one
-- and never re-creates it (guarantees 1, 2 and 7), nor grows its data
-- past the cap (guarantee 13). Steady state: HMGET, HSTRLEN and one HSET.
-- KEYS: 1 session, 2-4 the bucket's analytics
-- ARGV: 1 now, 2 retention ms, 3 refresh threshold ms, 4 the '@' the
--       request loaded ('' = none; '!' = a plain save of this delta
--       reached the key and found no live session, or a key it did not
--       expect: settle it, see below), 5 the data cap in bytes, 6… the
--       delta (see apply_delta)
-- Reply: {'unknown'} | {'ended', reason, at} | {'big', size} (the delta
--        would grow the data past the cap: nothing written) | 1 (kept:
--        the deadlines did not move) | {'ok', idle deadline, absolute
--        deadline}
--
-- The steady state first: the caller sends the '@' it loaded only when
-- the delta changes data alone and it judged those times live with no
-- refresh due at `now`; while the stored '@' is still that one, that
-- judgement holds, so the data is written at once (HMGET, HSTRLEN, HSET:
-- 1, the deadlines unchanged; one key set, the usual save, skips building
-- the argument table, and an integer reply skips a table: together about
-- a third of the call's cost in Redis). The data cap is judged against
-- '@size', the data's size as stored now (prelude.lua's delta_size), so
-- overlapping saves cannot add up past it; a session without '@size' yet
-- takes the judgement, which counts it. '@size' may count more than is
-- stored (the plain save of store/plain_save.rs shrinks values without
-- it), so a change past the cap by '@size' is judged again on a fresh
-- count before it is refused.
--
-- Settling ('!'): the plain save (HSET of the delta, PEXPIRE NX) added a
-- field, so it found no live session or a key it did not expect. The
-- judgement then reports the session's state as for any save; when it is
-- not live, it takes out what the plain save wrote (a key holding only
-- those fields, or those fields in a tombstone), and when it is live it
-- writes the delta again on a fresh count of '@size' (the save takes
-- effect now: the request has not returned). Anything else (a tombstone has no
-- '@'; a refresh, a rotation or an expiry changed it) gets the judgement,
-- which scripts.rs wraps in a function so that its helpers are only
-- defined when it runs.
local stored = redis.call('HMGET', KEYS[1], '@', '@size')
if ARGV[4] ~= '' and stored[1] == ARGV[4] and stored[2] then
  local size, cap = tonumber(stored[2]), tonumber(ARGV[5])
  if ARGV[8] == '1' and ARGV[11] == '0' then
    local f = DATA .. ARGV[9]
    local old = redis.call('HSTRLEN', KEYS[1], f)
    if old == 0 then old = -#ARGV[9] end
    local after = size - old + #ARGV[10]
    if after == size then
      redis.call('HSET', KEYS[1], f, ARGV[10])
      return 1
    end
    if after <= size or after <= cap then
      redis.call('HSET', KEYS[1], f, ARGV[10], '@size', string.format('%d', after))
      return 1
    end
  else
    local sets, dels = {}, {}
    local after, j = size, 9
    for _ = 1, tonumber(ARGV[8]) do
      local f = DATA .. ARGV[j]
      local old = redis.call('HSTRLEN', KEYS[1], f)
      if old == 0 then old = -#ARGV[j] end
      after = after - old + #ARGV[j + 1]
      sets[#sets + 1] = f
      sets[#sets + 1] = ARGV[j + 1]
      j = j + 2
    end
    local m = tonumber(ARGV[j])
    for i = j + 1, j + m do
      local f = DATA .. ARGV[i]
      local old = redis.call('HSTRLEN', KEYS[1], f)
      if old > 0 then after = after - old - #ARGV[i] end
      dels[#dels + 1] = f
    end
    if after <= size or after <= cap then
      sets[#sets + 1] = '@size'
      sets[#sets + 1] = string.format('%d', after)
      redis.call('HSET', KEYS[1], unpack(sets))
      if #dels > 0 then redis.call('HDEL', KEYS[1], unpack(dels)) end
      return 1
    end
  end
  -- Past the cap by '@size': the judgement counts afresh before refusing.
end
-- @judge
local st = stats_at(2)
local key, now = KEYS[1], tonumber(ARGV[1])
local settling = ARGV[4] == '!'
local h = head(key)
local status, reason, at = classify(st, key, h, now, tonumber(ARGV[2]))
if status ~= 'live' then
  if settling and not h then
    -- Only the plain save's fields are there (it reached no session).
    redis.call('DEL', key)
  elseif settling and status == 'ended' then
    -- The plain save's fields landed in the tombstone: take them out.
    local fields, j = {}, 9
    for _ = 1, tonumber(ARGV[8]) do
      fields[#fields + 1] = DATA .. ARGV[j]
      j = j + 2
    end
    if #fields > 0 then redis.call('HDEL', key, unpack(fields)) end
  end
  return { status, reason, at }
end
local cap = tonumber(ARGV[5])
local before, after = delta_size(key, h, 6, false, settling)
if after > before and after > cap and not settling then
  before, after = delta_size(key, h, 6, false, true)
end
if after > before and after > cap then return { 'big', after } end
local idle_changed = apply_delta(key, h, 6, true, after)
local idl = tonumber(h['@idl'])
if idle_changed or refresh_due(h, now, tonumber(ARGV[3])) then
  idl = touch(st, key, h, now, tonumber(ARGV[2]))
  if idle_changed and h['@ukey'] then user_changed(st, h['@user'], h['@ukey'], now) end
end
return { 'ok', idl, tonumber(h['@abs']) }
