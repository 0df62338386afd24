-- take.lua: reads and removes one data field of an active session in one
-- step (flash messages, one-time values: of two racing takes, one gets
-- the value), refusing an ended or unknown one (guarantees 1 and 3).
-- KEYS: 1 session, 2-4 the bucket's analytics
-- ARGV: 1 now, 2 retention ms, 3 refresh threshold ms, 4 field
-- Reply: {'unknown'} | {'ended', reason, at} (nothing changed) |
--        {'ok'} (no such field) | {'ok', the stored value}
--
-- Takes are rare (a flash message after a redirect), so there is no
-- steady state: every call is judged, as an increment that finds a
-- refresh due is. '@size' (prelude.lua's data_size) shrinks by the
-- removed field when it is kept; when not, the next write counts afresh.
local st = stats_at(2)
local key, now = KEYS[1], tonumber(ARGV[1])
local h = head(key)
local status, reason, at = classify(st, key, h, now, tonumber(ARGV[2]))
if status ~= 'live' then return { status, reason, at } end
local f = DATA .. ARGV[4]
local value = redis.call('HGET', key, f)
if value then
  redis.call('HDEL', key, f)
  local kept = tonumber(redis.call('HGET', key, '@size'))
  if kept then
    redis.call('HSET', key, '@size', I(math.max(kept - #ARGV[4] - #value, 0)))
  end
end
if refresh_due(h, now, tonumber(ARGV[3])) then
  touch(st, key, h, now, tonumber(ARGV[2]))
end
if value then return { 'ok', value } end
return { 'ok' }
