-- prelude.lua: helpers prepended to every script of this store.
--
-- Session hash fields (layout.rs defines them): reserved ones start with
-- '@', data fields with DATA ('d:'), so they never collide. A live session
-- holds
--   @     its layout version and times, packed in one field of at most
--         31 bytes (layout.lua's times_of and header read and write it)
--   @pub  its public id (left out when it is its key's, PublicId::of_key:
--         an anonymous session never rotated; codec.rs stored_public_id)
--   @meta its metadata JSON (absent when empty: '{}'; sealed with
--         encryption at rest)
--   @user @ukey (signed in: the user id and the user's index key)
--   @bind with encryption at rest and a stored @pub: a seal binding that
--         public id to this key (codec.rs binding), so sealed values
--         copied with their @pub into another session do not open there
-- and an ended one (a tombstone) holds @end (reason) @at @forget @pub.
-- Scripts work on a table `h` holding the hash's fields, with the packed
-- times unpacked (as numbers) into @created @seen @idle @idl @abs;
-- `packed` writes them back into '@'.
-- Times are milliseconds since the epoch, given by the caller as `now`:
-- the store judges expiry by `now`, and key TTLs (relative, so they track
-- the server's clock) only collect what is logically gone.
--
-- Invariants every script keeps (guarantees 5, 7 and 11):
-- * A live session is in its user's index (`@ukey`), scored by its expiry.
--   It leaves the index only in the step that ends it (a tombstone), so
--   no clock, however skewed, leaves a live session outside the index.
-- * Judging a live session expired is final: the same step turns it into
--   an 'expired' tombstone, which no instance refreshes.
-- * Every step that adds a session prunes a bounded number of expired
--   members from the analytics (its own bucket and one other), so they
--   follow the live sessions without a cleanup job.
-- * No step scans a user's index more than once.
--
-- Sessions live in buckets (the hash tag of every key): a bucket's
-- analytics sorted sets share its slot, so every script updates them
-- atomically. A script gets them as three KEYS, the `st` table below:
--   sessions (member: the digest ending the session key, `member`;
--             score: expiry)
--   users    (member: user id, score: the latest expiry of their sessions)
--   names    (member: user id, score 0: for paging in byte order)
-- and beside them, in the same slot, the bucket's lifecycle stream
-- (`stream_of`): every step that signs a session in, rotates a signed-in
-- session or ends one appends its event there (`event`), in the same
-- script, so the event and the change are one atomic step.

-- Integers as text. Redis turns a Lua number argument into text with
-- "%.14g", which writes large times as floats: every number sent to Redis
-- goes through I.
local function I(x)
  return string.format('%d', x)
end
local function stats_at(first)
  return { sessions = KEYS[first], users = KEYS[first + 1], names = KEYS[first + 2] }
end
-- The times packed into '@', as a table of fields holds them (the idle
-- deadline '@idl' is derived: min(seen + idle timeout, absolute deadline),
-- which every step that writes '@' sets it to).
local IS_PACKED = { ['@created'] = true, ['@seen'] = true, ['@idle'] = true, ['@idl'] = true,
                    ['@abs'] = true }
-- Unpacks '@' value `s` into table `t`. A value in another layout (or
-- damaged) fails the script with a 'corrupt' error, changing nothing.
local function unpacked(t, s)
  local created, seen, idle, abs = times_of(s)
  if not created then
    error({ err = 'ERR corrupt session record: field @ is not in layout ' .. VERSION })
  end
  t['@created'], t['@seen'], t['@idle'], t['@abs'] = created, seen, idle, abs
  t['@idl'] = math.min(seen + idle, abs)
  return t
end
-- Packs the times of `h` into h['@'] and returns it.
local function packed(h)
  h['@'] = header(tonumber(h['@created']), tonumber(h['@seen']), tonumber(h['@idle']),
    tonumber(h['@abs']))
  return h['@']
end
local function read(key)
  local all = redis.call('HGETALL', key)
  if #all == 0 then return nil end
  local h = {}
  for i = 1, #all, 2 do h[all[i]] = all[i + 1] end
  if h['@'] then unpacked(h, h['@']) end
  return h
end
-- The reserved fields scripts judge and index by, without the data: '@'
-- and '@end' first (one short HMGET; a missing '@end' reads as false),
-- and the rest only when a step first asks for one of them (a
-- tombstone's, or the user's, which indexing and ending need).
local REST = { '@at', '@forget', '@pub', '@user', '@ukey' }
-- (a live session's '@pub' is among the rest too: only ending one needs it)
local function head(key)
  local v = redis.call('HMGET', key, '@', '@end')
  if not v[1] and not v[2] then return nil end
  local h = { ['@end'] = v[2] or false }
  if v[1] then unpacked(h, v[1]) end
  return setmetatable(h, { __index = function(t, f)
    setmetatable(t, nil)
    local r = redis.call('HMGET', key, unpack(REST))
    for i, g in ipairs(REST) do
      if r[i] and rawget(t, g) == nil then t[g] = r[i] end
    end
    return rawget(t, f)
  end })
end
-- The stored fields of live session `h` as a flat list for HSET: '@'
-- packed, and '@meta' left out when empty.
local function flat(h)
  packed(h)
  local out = {}
  for k, v in pairs(h) do
    if not IS_PACKED[k] and not (k == '@meta' and v == '{}') then
      out[#out + 1] = k
      out[#out + 1] = v
    end
  end
  return out
end
local function expires_at(h)
  return math.min(tonumber(h['@idl']), tonumber(h['@abs']))
end
-- Keeps the longer of the key's TTL and `ttl` (ms): one command when the
-- TTL grows (the usual case), two when the key has none yet or a longer one.
local function extend_ttl(key, ttl)
  if ttl < 1 then ttl = 1 end
  if redis.call('PEXPIRE', key, I(ttl), 'GT') == 0 then
    redis.call('PEXPIRE', key, I(ttl), 'NX')
  end
end
-- Re-derives the user's analytics entry from the top of the index (its
-- latest expiry): O(log n), once per step that changed the index.
local function user_changed(st, user, ukey, now)
  local top = redis.call('ZRANGE', ukey, -1, -1, 'WITHSCORES')
  if #top == 0 or tonumber(top[2]) <= now then
    redis.call('ZREM', st.users, user)
    redis.call('ZREM', st.names, user)
  else
    local latest = tonumber(top[2])
    redis.call('ZADD', st.users, I(latest), user)
    redis.call('ZADD', st.names, 0, user)
    extend_ttl(st.users, latest - now)
    extend_ttl(st.names, latest - now)
  end
end
-- A session's member in its bucket's analytics: the digest ending its key
-- (22 characters; the whole key name would cost the sorted set about 16
-- bytes more per session), and back.
local function member(key)
  return string.sub(key, -22)
end
local function session_key(st, m)
  return (string.gsub(st.sessions, 'a:sessions$', 's:')) .. m
end
-- The user's device map beside index `ukey` (same slot): public id ->
-- session key, so that revoking one device is O(log n) (guarantee 5). An
-- entry is a hint, checked against the index and the session before use;
-- entries leave with their session (finish, expire, revoke_user.lua).
local function devices(ukey)
  return ukey .. ':p'
end
-- Records a session's (new) expiry in its index and the analytics. An
-- anonymous session's analytics member is only updated, where it has one
-- (made with anonymous analytics on: guarantee 11), unless `counted` says
-- to add it (a rotation of a counted session). Returns whether the
-- session is streamed (signed in, or counted): its key must then outlive
-- its deadline by the retention (`live_ttl`), and so must the analytics
-- set, so that the expiry sweep (sweep.lua) still finds it and can write
-- its 'expired' event.
local function session_expiry(st, key, h, exp, now, counted, retention)
  local streamed = h['@ukey'] or counted
  if not streamed then
    streamed = redis.call('ZSCORE', st.sessions, member(key)) ~= false
  end
  if not streamed then return false end
  redis.call('ZADD', st.sessions, I(exp), member(key))
  extend_ttl(st.sessions, exp - now + retention)
  if h['@ukey'] then
    redis.call('ZADD', h['@ukey'], I(exp), key)
    extend_ttl(h['@ukey'], exp - now)
    if h['@pub'] then
      redis.call('HSET', devices(h['@ukey']), h['@pub'], key)
      extend_ttl(devices(h['@ukey']), exp - now)
    end
    redis.call('ZADD', st.users, 'GT', I(exp), h['@user'])
    redis.call('ZADD', st.names, 0, h['@user'])
    extend_ttl(st.users, exp - now)
    extend_ttl(st.names, exp - now)
  end
  return true
end
-- The TTL (ms) of a live session's key whose deadline is `exp`: the
-- deadline, and for a streamed session (session_expiry) the retention
-- after it, in which a step or the sweep that finds it past its deadline
-- still reads its public id and user for the 'expired' event. An anonymous
-- uncounted session's key goes at its deadline, as before.
local function live_ttl(exp, now, streamed, retention)
  if streamed then return math.max(exp - now + retention, 1) end
  return math.max(exp - now, 1)
end
-- Pushes the idle deadline of live session `h` to now + idle timeout
-- (never past the absolute deadline) and writes it; the session stays in
-- (or returns to) its index.
local function touch(st, key, h, now, retention)
  local idl = math.min(now + tonumber(h['@idle']), tonumber(h['@abs']))
  h['@seen'] = I(now)
  h['@idl'] = I(idl)
  redis.call('HSET', key, '@', packed(h))
  local streamed = session_expiry(st, key, h, idl, now, false, retention)
  redis.call('PEXPIRE', key, I(live_ttl(idl, now, streamed, retention)))
  return idl
end
-- The lifecycle stream: at most about STREAM_LENGTH entries per bucket
-- (XADD MAXLEN ~; session_core::events::DEFAULT_STREAM_LENGTH), none older
-- than STREAM_AGE ms (the sweep trims by MINID; DEFAULT_STREAM_AGE), and
-- the stream key itself lives STREAM_AGE after its last event (every key
-- the store writes has a TTL). Unit tests keep both equal to the core's.
local STREAM_LENGTH = '10000'
local STREAM_AGE = 604800000
-- The stream of the bucket of `st`: `P:{bN}:a:events`, in the bucket's
-- slot (keys.rs KeyLayout::events).
local function stream_of(st)
  return (string.gsub(st.sessions, 'a:sessions$', 'a:events'))
end
-- The streams whose TTL this call has renewed (once per call each).
local RENEWED = {}
-- Appends an event to the stream of the bucket of `st`: kind ('signed_in'
-- | 'rotated' | 'ended'), public id, user id ('' anonymous), end reason
-- (EndReason's stored form; '' unless ended) and time `at` (ms: the
-- step's `now`, or the deadline that passed for an expiry). Always the
-- five fields in this order, so that Redis stores their names once per
-- stream node, not per entry. A session without a public id (an
-- anonymous one made before anonymous analytics stored '@pub') is not
-- recorded: its public id follows from its key, which only the server
-- secret maps.
local function event(st, kind, pub, user, reason, at)
  if not pub or pub == '' then return end
  local stream = stream_of(st)
  redis.call('XADD', stream, 'MAXLEN', '~', STREAM_LENGTH, '*', 'k', kind, 'p', pub,
    'u', user or '', 'r', reason or '', 't', I(at))
  if not RENEWED[stream] then
    RENEWED[stream] = true
    redis.call('PEXPIRE', stream, I(STREAM_AGE))
  end
end
-- Replaces whatever `key` holds by a tombstone: why and when it ended,
-- kept until `forget`.
local function tombstone(key, reason, at, forget, pub, now)
  redis.call('DEL', key)
  redis.call('HSET', key, '@end', reason, '@at', I(at), '@forget', I(forget), '@pub', pub or '')
  redis.call('PEXPIRE', key, I(math.max(forget - now, 1)))
end
-- Ends live session `h` under `key` with `reason`: a tombstone, and out of
-- its index and the analytics. The caller re-derives the user's entry
-- (user_changed) once, after ending all it ends. Returns the public id.
-- A streamed session (signed in, or counted: it had an analytics member)
-- gets its 'ended' event, except when it ends by rotation: it lives on
-- under the new key, and rotate.lua records that.
local function finish(st, key, h, reason, now, retention)
  -- Read the user's fields (lazily loaded by head) before the key changes.
  local ukey = h['@ukey']
  tombstone(key, reason, now, now + retention, h['@pub'], now)
  local counted = redis.call('ZREM', st.sessions, member(key)) == 1
  if ukey then
    redis.call('ZREM', ukey, key)
    if h['@pub'] then redis.call('HDEL', devices(ukey), h['@pub']) end
  end
  if reason ~= 'rotated' and (ukey or counted) then
    event(st, 'ended', h['@pub'], h['@user'], reason, now)
  end
  return h['@pub']
end
-- Ends live session `h`, found past its expiry, for good: an 'expired'
-- tombstone (or nothing, past the retention), out of index and analytics.
local function expire(st, key, h, now, retention)
  -- Read the user's fields (lazily loaded by head) before the key changes.
  local ukey = h['@ukey']
  local exp = expires_at(h)
  if now >= exp + retention then
    redis.call('DEL', key)
  else
    tombstone(key, 'expired', exp, exp + retention, h['@pub'], now)
  end
  local counted = redis.call('ZREM', st.sessions, member(key)) == 1
  if ukey then
    redis.call('ZREM', ukey, key)
    if h['@pub'] then redis.call('HDEL', devices(ukey), h['@pub']) end
  end
  if ukey or counted then event(st, 'ended', h['@pub'], h['@user'], 'expired', exp) end
end
-- 'live', or 'unknown', or 'ended' with the reason and time. A live
-- session past its expiry is expired here, finally.
local function classify(st, key, h, now, retention)
  if not h then return 'unknown' end
  if h['@end'] then
    if now >= tonumber(h['@forget']) then
      redis.call('DEL', key)
      return 'unknown'
    end
    return 'ended', h['@end'], tonumber(h['@at'])
  end
  local exp = expires_at(h)
  if exp <= now then
    expire(st, key, h, now, retention)
    if h['@ukey'] then user_changed(st, h['@user'], h['@ukey'], now) end
    if now >= exp + retention then return 'unknown' end
    return 'ended', 'expired', exp
  end
  return 'live'
end
-- How many expired members one step prunes from each bucket it sweeps.
local PRUNE = 8
-- The number of buckets (keys.rs BUCKETS; a unit test keeps them equal).
local BUCKETS = 64
-- Prunes up to PRUNE expired sessions (and, with `users`, users) from the
-- analytics of `st`, expiring each pruned session (so it also leaves its
-- index, and its user the analytics when it was their last). With `probe`,
-- the bucket may live on another Cluster node: its first read is a pcall,
-- and an error (a key this node does not hold) skips the bucket.
local function prune_bucket(st, now, retention, probe, users)
  local read = probe and redis.pcall or redis.call
  local old = read('ZRANGEBYSCORE', st.sessions, '-inf', I(now), 'LIMIT', 0, PRUNE)
  if type(old) == 'table' and old.err then return end
  for _, m in ipairs(old) do
    local key = session_key(st, m)
    local h = head(key)
    if h and not h['@end'] and h['@idl'] then
      local exp = expires_at(h)
      if exp <= now then
        expire(st, key, h, now, retention)
        if h['@ukey'] then user_changed(st, h['@user'], h['@ukey'], now) end
      else
        redis.call('ZADD', st.sessions, I(exp), m)
      end
    else
      redis.call('ZREM', st.sessions, m)
    end
  end
  if not users then return end
  local gone = redis.call('ZRANGEBYSCORE', st.users, '-inf', I(now), 'LIMIT', 0, PRUNE)
  if #gone > 0 then
    redis.call('ZREM', st.users, unpack(gone))
    redis.call('ZREM', st.names, unpack(gone))
  end
end
-- Prunes the bucket of `st` and one other, picked from the last two
-- characters of `key` (its digest's base64: random per session). On
-- Cluster the other bucket may live on another node: then it is skipped (scripts are flagged
-- allow-cross-slot-keys, which reaches keys of this node only). A step
-- that adds an anonymous session sweeps only its own bucket (random for
-- an anonymous session) and only the sessions, two commands fewer on the
-- commonest create: pruning a session already removes its user when it
-- was their last, so the users' sweep is a safety net that steps signing
-- in (`users`) run.
local function prune(st, key, now, retention, users)
  prune_bucket(st, now, retention, false, users)
  if not users then return end
  local other = (string.byte(key, -1) + 7 * string.byte(key, -2)) % BUCKETS
  local function move(name) return (string.gsub(name, '{b%d+}', '{b' .. other .. '}', 1)) end
  local sw = { sessions = move(st.sessions), users = move(st.users), names = move(st.names) }
  if sw.sessions == st.sessions then return end
  prune_bucket(sw, now, retention, true, users)
end
-- Whether `s` is a '@' field this code can read.
local function intact(s)
  return times_of(s) ~= nil
end
-- Ends a session whose '@' does not decode where it lies: a tombstone with
-- `reason` (its public id kept when it has one), out of the bucket's
-- analytics; the caller drops it from the user's index and reports it. So
-- one damaged record never blocks a step over a user's other sessions.
local function end_damaged(st, key, reason, now, retention)
  local v = redis.call('HMGET', key, '@pub', '@user')
  local pub, user = v[1], v[2]
  redis.call('DEL', key)
  redis.call('HSET', key, '@end', reason, '@at', I(now), '@forget', I(now + retention),
    '@pub', pub or '')
  redis.call('PEXPIRE', key, I(math.max(retention, 1)))
  local counted = redis.call('ZREM', st.sessions, member(key)) == 1
  if user or counted then event(st, 'ended', pub, user, reason, now) end
end
-- How many of a user's sessions one eviction orders by its policy at most:
-- about 15 ms of Redis time (guarantee 5), whatever the limit.
local PICK = 1000
-- Ends sessions of the user until one more fits under `max` (0: no limit),
-- or refuses. O(log n) under the limit; at the limit, the policy orders
-- the PICK sessions that expire first (all of them under the default limit
-- of 1,000) and ends the first: with one idle timeout for all, the least
-- recently active session is among them, so evict-idle is exact; with a
-- larger limit, evict-oldest and per-session idle timeouts choose among
-- those. Returns the evicted public ids, or nil when refused.
local function make_room(st, ukey, max, policy, except, now, retention)
  local evicted = {}
  if max <= 0 then return evicted end
  local live = redis.call('ZCOUNT', ukey, '(' .. I(now), '+inf')
  if except then
    local s = redis.call('ZSCORE', ukey, except)
    if s and tonumber(s) > now then live = live - 1 end
  end
  if live < max then return evicted end
  if policy == 'deny' then return nil end
  local need = live - max + 1
  local window = math.max(need, PICK) + 1
  local all = {}
  local first = redis.call('ZRANGEBYSCORE', ukey, '(' .. I(now), '+inf', 'LIMIT', 0, window)
  for _, m in ipairs(first) do
    if m ~= except then
      local v = redis.call('HGET', m, '@')
      if v and intact(v) then
        local t = unpacked({}, v)
        all[#all + 1] = { key = m, seen = tonumber(t['@seen']), created = tonumber(t['@created']) }
      else
        -- Gone, or damaged: a damaged session is the first to make room.
        if v then end_damaged(st, m, 'limit', now, retention) end
        redis.call('ZREM', ukey, m)
        need = need - 1
      end
    end
  end
  if policy == 'evict-oldest' then
    table.sort(all, function(a, b)
      if a.created ~= b.created then return a.created < b.created end
      if a.seen ~= b.seen then return a.seen < b.seen end
      return a.key < b.key
    end)
  else
    table.sort(all, function(a, b)
      if a.seen ~= b.seen then return a.seen < b.seen end
      if a.created ~= b.created then return a.created < b.created end
      return a.key < b.key
    end)
  end
  for i = 1, math.min(need, #all) do
    local h = head(all[i].key)
    if h and not h['@end'] then
      evicted[#evicted + 1] = finish(st, all[i].key, h, 'limit', now, retention)
    end
  end
  return evicted
end
-- The data cap (guarantee 13) is judged here, where data is merged: the
-- bytes of a session's data (each data key's name plus its stored value)
-- are kept in '@size', written by the first change that needs it (an
-- anonymous create leaves it out) and by every change after. This counts
-- them from scratch: one pass over the hash, once per session.
local function data_size(key)
  local all = redis.call('HGETALL', key)
  local n = 0
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, DATA_LEN) == DATA then n = n + #all[i] - DATA_LEN + #all[i + 1] end
  end
  return n
end
-- The data size of session `key` before and after the delta encoded in
-- ARGV from position `i` (see apply_delta). With `full`, `h` holds every
-- field of the session (read); else the lengths are asked of Redis, and
-- with `recount` the size is counted afresh instead of read from '@size'
-- (which may count more than is stored: a plain save shrinks values
-- without it).
local function delta_size(key, h, i, full, recount)
  local before = 0
  if full then
    for k, v in pairs(h) do
      if string.sub(k, 1, DATA_LEN) == DATA then before = before + #k - DATA_LEN + #v end
    end
  elseif recount then
    before = data_size(key)
  else
    before = tonumber(redis.call('HGET', key, '@size')) or data_size(key)
  end
  local function len(f)
    if full then return h[f] and #h[f] or 0 end
    return redis.call('HSTRLEN', key, f)
  end
  local after, j = before, i + 3
  for _ = 1, tonumber(ARGV[i + 2]) do
    -- A stored value is never empty (JSON): a length of 0 is a new key.
    local old = len(DATA .. ARGV[j])
    if old == 0 then old = -#ARGV[j] end
    after = after - old + #ARGV[j + 1]
    j = j + 2
  end
  for k = j + 1, j + tonumber(ARGV[j]) do
    local old = len(DATA .. ARGV[k])
    if old > 0 then after = after - old - #ARGV[k] end
  end
  return before, after
end
-- Applies a delta encoded in ARGV from position `i`:
--   meta ('' = unchanged), idle ('' = unchanged), n sets (field, json)…,
--   m removals (field)…
-- to table `h`, with `size` the data size after it (delta_size), and
-- writes it to `key` when `write` is true: one HSET for everything set and
-- one HDEL for everything removed.
local function apply_delta(key, h, i, write, size)
  local meta, idle = ARGV[i], ARGV[i + 1]
  h['@size'] = I(size)
  local sets, dels = { '@size', h['@size'] }, {}
  if meta ~= '' then
    h['@meta'] = meta
    if meta == '{}' then
      dels[#dels + 1] = '@meta'
    else
      sets[#sets + 1] = '@meta'
      sets[#sets + 1] = meta
    end
  end
  if idle ~= '' then
    h['@idle'] = idle
    sets[#sets + 1] = '@'
    sets[#sets + 1] = packed(h)
  end
  local n = tonumber(ARGV[i + 2])
  local j = i + 3
  for _ = 1, n do
    local f = DATA .. ARGV[j]
    h[f] = ARGV[j + 1]
    sets[#sets + 1] = f
    sets[#sets + 1] = ARGV[j + 1]
    j = j + 2
  end
  local m = tonumber(ARGV[j])
  j = j + 1
  for _ = 1, m do
    local f = DATA .. ARGV[j]
    h[f] = nil
    dels[#dels + 1] = f
    j = j + 1
  end
  if write and #sets > 0 then redis.call('HSET', key, unpack(sets)) end
  if write and #dels > 0 then redis.call('HDEL', key, unpack(dels)) end
  return idle ~= ''
end
-- Whether the idle deadline of live session `h` is due to move at `now`:
-- less than `threshold` ms remain and moving it would push it later.
local function refresh_due(h, now, threshold)
  local idl, abs = tonumber(h['@idl']), tonumber(h['@abs'])
  return idl - now < threshold and math.min(now + tonumber(h['@idle']), abs) > idl
end
