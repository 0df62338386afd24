-- increment.lua: atomically adds to an integer data field of an active
-- session (guarantee 3), refusing an ended or unknown one (guarantee 1).
-- KEYS: 1 session, 2-4 the bucket's analytics
-- ARGV: 1 now, 2 retention ms, 3 refresh threshold ms, 4 field, 5 amount
-- Reply: {'unknown'} | {'ended', reason, at} | {'nan'} | the new value (an
--        integer: a table reply costs Redis more)
--
-- The steady state first: when the session's field '@' shows it live at
-- `now` with no refresh due (prelude.lua's refresh_due), it increments at
-- once, two commands, the outcome the judgement below reaches in that case.
-- Anything else (no '@': a tombstone or nothing; expired; a refresh due)
-- gets the judgement, which scripts.rs wraps in a function so that its
-- helpers are only defined when it runs.
local times = redis.call('HGET', KEYS[1], '@')
if times then
  local idle, idl, abs = string.match(times, '^2:%x+:%x+:(%x+):(%x+):(%x+)$')
  if idl then
    idle, idl, abs = tonumber(idle, 16), tonumber(idl, 16), tonumber(abs, 16)
    local now, threshold = tonumber(ARGV[1]), tonumber(ARGV[3])
    local due = idl - now < threshold and math.min(now + idle, abs) > idl
    if math.min(idl, abs) > now and not due then
      local value = redis.pcall('HINCRBY', KEYS[1], 'd:' .. ARGV[4], ARGV[5])
      if type(value) == 'table' and value.err then return { 'nan' } end
      return value
    end
  end
end
-- @judge
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
return value
