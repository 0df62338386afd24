-- prelude.lua: helpers prepended to every script of this store.
--
-- Session hash fields: reserved ones start with '@', data fields with 'd:',
-- so they never collide. A live session holds
--   @v (format version) @pub @created @seen @idle (ms) @idl (idle deadline)
--   @abs (absolute deadline) @meta (JSON) [@user @ukey (its user index key)]
-- and an ended one (a tombstone) holds @end (reason) @at @forget @pub.
-- Times are milliseconds since the epoch, given by the caller as `now`:
-- the store judges expiry by `now`, and key TTLs (relative, so they track
-- the server's clock) only collect what is logically gone.
--
-- Sessions live in buckets (the hash tag of every key): a bucket's
-- analytics sorted sets share its slot, so every script updates them
-- atomically. A script gets them as three KEYS, the `st` table below:
--   sessions (member: session key, score: expiry)
--   users    (member: user id, score: the latest expiry of their sessions)
--   names    (member: user id, score 0: for paging in byte order)

local function stats_at(first)
  return { sessions = KEYS[first], users = KEYS[first + 1], names = KEYS[first + 2] }
end

local function read(key)
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return nil end
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  return h
end

local function flat(h)
  local out = {}
  for k, v in pairs(h) do
    out[#out + 1] = k
    out[#out + 1] = v
  end
  return out
end

local function expires_at(h)
  return math.min(tonumber(h['@idl']), tonumber(h['@abs']))
end

-- Keeps the longer of the key's TTL and `ttl` (ms).
local function extend_ttl(key, ttl)
  if ttl < 1 then ttl = 1 end
  local current = redis.call('PTTL', key)
  if current < ttl then redis.call('PEXPIRE', key, ttl) end
end

-- 'live', or 'unknown', or 'ended' with the reason and time.
local function classify(key, h, now, retention)
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
    if now >= exp + retention then return 'unknown' end
    return 'ended', 'expired', exp
  end
  return 'live'
end

-- The user's live sessions (pruning ended, expired and vanished ones from
-- the index), each as {key, exp, abs, seen, created, pub}.
local function scan_index(ukey, now)
  local live = {}
  for _, m in ipairs(redis.call('ZRANGE', ukey, 0, -1)) do
    local v = redis.call('HMGET', m, '@end', '@idl', '@abs', '@seen', '@created', '@pub')
    local dead = v[1] or not v[2]
    local exp = 0
    if not dead then
      exp = math.min(tonumber(v[2]), tonumber(v[3]))
      dead = exp <= now
    end
    if dead then
      redis.call('ZREM', ukey, m)
    else
      live[#live + 1] = { key = m, exp = exp, abs = tonumber(v[3]), seen = tonumber(v[4]),
                          created = tonumber(v[5]), pub = v[6] }
    end
  end
  return live
end

-- Re-derives the user's analytics entry and the index TTL from the index.
local function user_changed(st, user, ukey, now)
  local live = scan_index(ukey, now)
  local latest, longest = 0, 0
  for _, s in ipairs(live) do
    if s.exp > latest then latest = s.exp end
    if s.abs > longest then longest = s.abs end
  end
  if #live == 0 then
    redis.call('DEL', ukey)
    redis.call('ZREM', st.users, user)
    redis.call('ZREM', st.names, user)
  else
    redis.call('PEXPIRE', ukey, math.max(longest - now, 1))
    redis.call('ZADD', st.users, latest, user)
    redis.call('ZADD', st.names, 0, user)
    extend_ttl(st.users, latest - now)
    extend_ttl(st.names, latest - now)
  end
  return live
end

-- Records a session's (new) expiry in the analytics.
local function session_expiry(st, key, h, exp, now)
  redis.call('ZADD', st.sessions, exp, key)
  extend_ttl(st.sessions, exp - now)
  if h['@user'] then
    redis.call('ZADD', st.users, 'GT', exp, h['@user'])
    redis.call('ZADD', st.names, 0, h['@user'])
    extend_ttl(st.users, exp - now)
    extend_ttl(st.names, exp - now)
  end
end

-- Pushes the idle deadline of live session `h` to now + idle timeout
-- (never past the absolute deadline) and writes it.
local function touch(st, key, h, now)
  local idl = math.min(now + tonumber(h['@idle']), tonumber(h['@abs']))
  h['@seen'] = tostring(now)
  h['@idl'] = tostring(idl)
  redis.call('HSET', key, '@seen', now, '@idl', idl)
  redis.call('PEXPIRE', key, math.max(idl - now, 1))
  session_expiry(st, key, h, idl, now)
  return idl
end

-- Ends live session `h` under `key`: leaves a tombstone kept for
-- `retention` ms, drops it from its user's index and the analytics.
-- Returns its public id.
local function finish(st, key, h, reason, now, retention)
  redis.call('DEL', key)
  redis.call('HSET', key, '@end', reason, '@at', now, '@forget', now + retention, '@pub', h['@pub'])
  redis.call('PEXPIRE', key, math.max(retention, 1))
  redis.call('ZREM', st.sessions, key)
  if h['@ukey'] then
    redis.call('ZREM', h['@ukey'], key)
    user_changed(st, h['@user'], h['@ukey'], now)
  end
  return h['@pub']
end

-- Ends sessions of the user until one more fits under `max` (0: no limit),
-- or refuses. Returns the evicted public ids, or nil when refused.
local function make_room(st, ukey, max, policy, except, now, retention)
  local evicted = {}
  if max <= 0 then return evicted end
  local live = {}
  for _, s in ipairs(scan_index(ukey, now)) do
    if s.key ~= except then live[#live + 1] = s end
  end
  if #live < max then return evicted end
  if policy == 'deny' then return nil end
  if policy == 'evict-oldest' then
    table.sort(live, function(a, b)
      if a.created ~= b.created then return a.created < b.created end
      if a.seen ~= b.seen then return a.seen < b.seen end
      return a.key < b.key
    end)
  else
    table.sort(live, function(a, b)
      if a.seen ~= b.seen then return a.seen < b.seen end
      if a.created ~= b.created then return a.created < b.created end
      return a.key < b.key
    end)
  end
  for i = 1, #live - max + 1 do
    evicted[#evicted + 1] = finish(st, live[i].key, read(live[i].key), 'limit', now, retention)
  end
  return evicted
end

-- Applies a delta encoded in ARGV from position `i`:
--   meta ('' = unchanged), idle ('' = unchanged), n sets (field, json)…,
--   m removals (field)…
-- to table `h`, and writes it to `key` when `write` is true.
local function apply_delta(key, h, i, write)
  local meta, idle = ARGV[i], ARGV[i + 1]
  if meta ~= '' then h['@meta'] = meta; if write then redis.call('HSET', key, '@meta', meta) end end
  if idle ~= '' then h['@idle'] = idle; if write then redis.call('HSET', key, '@idle', idle) end end
  local n = tonumber(ARGV[i + 2])
  local j = i + 3
  for _ = 1, n do
    h['d:' .. ARGV[j]] = ARGV[j + 1]
    if write then redis.call('HSET', key, 'd:' .. ARGV[j], ARGV[j + 1]) end
    j = j + 2
  end
  local m = tonumber(ARGV[j])
  j = j + 1
  for _ = 1, m do
    h['d:' .. ARGV[j]] = nil
    if write then redis.call('HDEL', key, 'd:' .. ARGV[j]) end
    j = j + 1
  end
  return idle ~= ''
end
