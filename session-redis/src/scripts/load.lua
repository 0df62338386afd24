-- load.lua: loads a session, pushing its idle deadline forward when less
-- than the refresh threshold remains (guarantees 7 and 8): one round trip.
-- KEYS: 1 session, 2-4 the bucket's analytics
-- ARGV: 1 now, 2 retention ms, 3 refresh threshold ms
-- Reply: {'unknown'} | {'ended', reason, at} | {'active', refreshed 0/1, {field, value…}}
local st = stats_at(2)
local key, now = KEYS[1], tonumber(ARGV[1])
local h = read(key)
local status, reason, at = classify(st, key, h, now, tonumber(ARGV[2]))
if status ~= 'live' then return { status, reason, at } end
local refreshed = 0
local idl, abs = tonumber(h['@idl']), tonumber(h['@abs'])
if idl - now < tonumber(ARGV[3]) and math.min(now + tonumber(h['@idle']), abs) > idl then
  touch(st, key, h, now)
  refreshed = 1
end
return { 'active', refreshed, flat(h) }
