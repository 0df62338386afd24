-- apply_unchanged.lua: the steady-state save. Writes the changed data keys
-- of a session whose field '@' (its layout and times) is still the one
-- the request loaded; the caller judged those times at `now` (live, no
-- refresh due), so that judgement still holds and nothing else needs
-- reading. Anything else (a tombstone has no '@'; a refresh, a rotation
-- or an expiry changed it; the key is gone) writes nothing and replies
-- 'changed', and the caller runs apply.lua, which judges afresh.
-- KEYS: 1 session
-- ARGV: 1 the '@' the request loaded, 2 n sets, then field, json…,
--       then m removals, then field…
-- Reply: {'ok'} | {'changed'}
local key = KEYS[1]
if redis.call('HGET', key, '@') ~= ARGV[1] then return { 'changed' } end
local sets, dels = {}, {}
local n = tonumber(ARGV[2])
local j = 3
for _ = 1, n do
  sets[#sets + 1] = 'd:' .. ARGV[j]
  sets[#sets + 1] = ARGV[j + 1]
  j = j + 2
end
local m = tonumber(ARGV[j])
j = j + 1
for _ = 1, m do
  dels[#dels + 1] = 'd:' .. ARGV[j]
  j = j + 1
end
if #sets > 0 then redis.call('HSET', key, unpack(sets)) end
if #dels > 0 then redis.call('HDEL', key, unpack(dels)) end
return { 'ok' }
