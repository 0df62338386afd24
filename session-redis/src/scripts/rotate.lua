-- rotate.lua: moves a session to a new key in one step, ending the old key
-- as 'rotated' (guarantee 6); with sign-in, binds the user, restarts the
-- lifetime and applies the per-user limit atomically (guarantee 4).
-- KEYS: 1 old session, 2 new session, 3 the user's index (sign-in; else
--       the new key again), 4-6 the old key's bucket's analytics, 7-9 the
--       new key's (all in one slot on Cluster: see store.rs)
-- ARGV: 1 now, 2 retention ms, 3 sign in (1/0), 4 user id, 5 limit,
--       6 policy, 7 new absolute deadline, 8 the old key's public id
--       (PublicId::of_key: the public id of a record without '@pub'),
--       9 the public id's binding to the new key ('' = none; with
--       encryption at rest: codec.rs binding), 10 the data cap in bytes,
--       11… the delta (see apply_delta)
-- Reply: {'unknown'} | {'ended', reason, at} | {'dup'} | {'other'} |
--        {'limit', max} | {'big', size} (the delta would grow the data past
--        the cap: nothing changed) | {'ok', {field, value…}, {evicted
--        public ids…}}
--
-- The event goes to the new key's bucket's lifecycle stream: 'signed_in'
-- for a sign-in, 'rotated' for a signed-in session's rotation, none for
-- an anonymous one's; the old key's end by rotation is not an 'ended'
-- event (prelude.lua's finish).
local st_old, st_new = stats_at(4), stats_at(7)
local old, new, now, retention = KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2])
local h = read(old)
local status, reason, at = classify(st_old, old, h, now, retention)
if status ~= 'live' then return { status, reason, at } end
if redis.call('EXISTS', new) == 1 then return { 'dup' } end
local size_before, size = delta_size(old, h, 11, true)
if size > size_before and size > tonumber(ARGV[10]) then return { 'big', size } end
local before = {}
for k, v in pairs(h) do before[k] = v end
-- The new key stores the public id: it no longer follows from the key.
if not h['@pub'] then h['@pub'] = ARGV[8] end
if ARGV[9] ~= '' then h['@bind'] = ARGV[9] end
local evicted = {}
if ARGV[3] == '1' then
  if h['@user'] and h['@user'] ~= ARGV[4] then return { 'other' } end
  evicted = make_room(st_new, KEYS[3], tonumber(ARGV[5]), ARGV[6], old, now, retention)
  if not evicted then return { 'limit', tonumber(ARGV[5]) } end
  h['@user'] = ARGV[4]
  h['@ukey'] = KEYS[3]
  h['@created'] = I(now)
  h['@abs'] = ARGV[7]
end
apply_delta(new, h, 11, false, size)
-- An anonymous session keeps being counted where it was (guarantee 11).
local counted = redis.call('ZSCORE', st_old.sessions, member(old)) ~= false
finish(st_old, old, before, 'rotated', now, retention)
local idl = math.min(now + tonumber(h['@idle']), tonumber(h['@abs']))
h['@seen'] = I(now)
h['@idl'] = I(idl)
redis.call('HSET', new, unpack(flat(h)))
local streamed = session_expiry(st_new, new, h, idl, now, counted, retention)
redis.call('PEXPIRE', new, I(live_ttl(idl, now, streamed, retention)))
if h['@ukey'] then user_changed(st_new, h['@user'], h['@ukey'], now) end
if ARGV[3] == '1' then
  event(st_new, 'signed_in', h['@pub'], h['@user'], nil, now)
elseif h['@user'] then
  event(st_new, 'rotated', h['@pub'], h['@user'], nil, now)
end
prune(st_new, new, now, retention, ARGV[3] == '1')
return { 'ok', flat(h), evicted }
