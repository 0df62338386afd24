-- create.lua: creates a session, enforcing the per-user limit atomically
-- with it (guarantees 1 and 4), and prunes expired analytics (guarantee 7).
-- KEYS: 1 session, 2 user index (the session key again when anonymous),
--       3-5 the bucket's analytics (sessions, users, names)
-- ARGV: 1 now, 2 retention ms, 3 public id ('' = the key's, left out:
--       codec.rs stored_public_id), 4 user id ('' = anonymous),
--       5 idle ms, 6 absolute deadline, 7 metadata JSON, 8 limit (0 = none),
--       9 policy (evict-idle | evict-oldest | deny), 10 n data pairs,
--       11 anonymous analytics ('1': an anonymous session gets its
--       analytics member and is counted; '0': not, guarantee 11), then
--       field, json…, then the public id's binding to the key ('' = none;
--       with encryption at rest, for a stored public id: codec.rs binding)
-- Reply: {'dup'} | {'limit', max} | {'ok', {evicted public ids…}} |
--        1 (an anonymous create in the steady state: nothing evicted)
--
-- A signed-in create appends 'signed_in' to the bucket's lifecycle
-- stream (after the 'ended' events of the sessions it evicts), and its
-- key, like a counted anonymous session's, outlives its deadline by the
-- retention (prelude.lua's live_ttl) for the expiry sweep.
--
-- The steady state first: an anonymous session is stored with plain
-- commands (the layout of prelude.lua's `flat` and `packed`): with
-- anonymous analytics off (the default), EXISTS, HSET and PEXPIRE, and
-- nothing else; on, also the analytics of `session_expiry`, and when its
-- bucket holds no expired session nothing else runs. Otherwise (a sign-in, or something to prune)
-- the judgement below runs, in a function scripts.rs wraps it in so that
-- its helpers are only defined then; `stored` tells it the anonymous
-- session is in already.
local stored = false
if ARGV[4] == '' then
  local key, now = KEYS[1], tonumber(ARGV[1])
  if redis.call('EXISTS', key) == 1 then return { 'dup' } end
  local idle, abs = tonumber(ARGV[5]), tonumber(ARGV[6])
  local idl = math.min(now + idle, abs)
  local packed = header(now, now, idle, abs)
  if ARGV[3] == '' and ARGV[7] == '{}' and ARGV[10] == '1' then
    -- One data key, no metadata and the key's public id, the usual create:
    -- no argument table.
    redis.call('HSET', key, '@', packed, DATA .. ARGV[12], ARGV[13])
  else
    local fields = { '@', packed }
    if ARGV[3] ~= '' then
      fields[#fields + 1] = '@pub'
      fields[#fields + 1] = ARGV[3]
    end
    if ARGV[7] ~= '{}' then
      fields[#fields + 1] = '@meta'
      fields[#fields + 1] = ARGV[7]
    end
    local j = 12
    for _ = 1, tonumber(ARGV[10]) do
      fields[#fields + 1] = DATA .. ARGV[j]
      fields[#fields + 1] = ARGV[j + 1]
      j = j + 2
    end
    if ARGV[j] ~= '' then
      fields[#fields + 1] = '@bind'
      fields[#fields + 1] = ARGV[j]
    end
    redis.call('HSET', key, unpack(fields))
  end
  if ARGV[11] ~= '1' then
    redis.call('PEXPIRE', key, string.format('%d', math.max(idl - now, 1)))
    return 1
  end
  -- Counted: the key and the analytics set outlive the deadline by the
  -- retention, so the expiry sweep finds the session (prelude.lua live_ttl).
  local ttl = string.format('%d', math.max(idl - now + tonumber(ARGV[2]), 1))
  redis.call('PEXPIRE', key, ttl)
  redis.call('ZADD', KEYS[3], string.format('%d', idl), string.sub(key, -22))
  if redis.call('PEXPIRE', KEYS[3], ttl, 'GT') == 0 then
    redis.call('PEXPIRE', KEYS[3], ttl, 'NX')
  end
  if redis.call('ZCOUNT', KEYS[3], '-inf', string.format('%d', now)) == 0 then return 1 end
  stored = true
end
-- @judge
local st = stats_at(3)
local key, now, retention = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
if stored then
  prune(st, key, now, retention, false)
  return { 'ok', {} }
end
if redis.call('EXISTS', key) == 1 then return { 'dup' } end
local user = ARGV[4]
local evicted = {}
if user ~= '' then
  evicted = make_room(st, KEYS[2], tonumber(ARGV[8]), ARGV[9], nil, now, retention)
  if not evicted then return { 'limit', tonumber(ARGV[8]) } end
end
local idle, abs = tonumber(ARGV[5]), tonumber(ARGV[6])
local idl = math.min(now + idle, abs)
local pub = ARGV[3]
if pub == '' then pub = nil end
local h = { ['@pub'] = pub, ['@created'] = I(now), ['@seen'] = I(now),
            ['@idle'] = ARGV[5], ['@idl'] = I(idl), ['@abs'] = ARGV[6], ['@meta'] = ARGV[7] }
if user ~= '' then
  h['@user'] = user
  h['@ukey'] = KEYS[2]
end
local n, j = tonumber(ARGV[10]), 12
for _ = 1, n do
  h[DATA .. ARGV[j]] = ARGV[j + 1]
  j = j + 2
end
if ARGV[j] ~= '' then h['@bind'] = ARGV[j] end
redis.call('HSET', key, unpack(flat(h)))
local streamed = session_expiry(st, key, h, idl, now, false, retention)
redis.call('PEXPIRE', key, I(live_ttl(idl, now, streamed, retention)))
if #evicted > 0 then user_changed(st, user, KEYS[2], now) end
if user ~= '' then event(st, 'signed_in', h['@pub'], user, nil, now) end
prune(st, key, now, retention, user ~= '')
return { 'ok', evicted }
