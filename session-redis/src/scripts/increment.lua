-- increment.lua: atomically adds to an integer data field of an active
-- session (guarantee 3), refusing an ended or unknown one (guarantee 1).
-- KEYS: 1 session, 2-4 the bucket's analytics
-- ARGV: 1 now, 2 retention ms, 3 refresh threshold ms, 4 field, 5 amount
-- Reply: {'unknown'} | {'ended', reason, at} | {'nan'} | {'ok', new value}
local st = stats_at(2)
local key, now = KEYS[1], tonumber(ARGV[1])
local h = head(key)
local status, reason, at = classify(st, key, h, now, tonumber(ARGV[2]))
if status ~= 'live' then return { status, reason, at } end
local value = redis.pcall('HINCRBY', key, 'd:' .. ARGV[4], ARGV[5])
if type(value) == 'table' and value.err then return { 'nan' } end
if refresh_due(h, now, tonumber(ARGV[3])) then
  touch(st, key, h, now)
end
return { 'ok', value }
