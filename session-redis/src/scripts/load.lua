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
if refresh_due(h, now, tonumber(ARGV[3])) then
  touch(st, key, h, now, tonumber(ARGV[2]))
  refreshed = 1
end
return { 'active', refreshed, flat(h) }
