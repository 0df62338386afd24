-- increment.lua: atomically adds to an integer data field of an active
-- session (guarantee 3), refusing an ended or unknown one (guarantee 1)
-- and an increment that would grow the data past the cap (guarantee 13).
-- KEYS: 1 session, 2-4 the bucket's analytics
-- ARGV: 1 now, 2 retention ms, 3 refresh threshold ms, 4 field, 5 amount,
--       6 the data cap in bytes
-- Reply: {'unknown'} | {'ended', reason, at} | {'nan'} | {'big', size}
--        (nothing changed) | the new value (an integer: a table reply
--        costs Redis more)
--
-- The steady state first: when the session's field '@' shows it live at
-- `now` with no refresh due (prelude.lua's refresh_due) and '@size' is
-- kept, it increments at once (`add`: HMGET, HINCRBY), the outcome the
-- judgement below reaches in that case. Anything else (no '@': a tombstone or nothing;
-- expired; a refresh due; no '@size' yet) gets the judgement, which
-- scripts.rs wraps in a function so that its helpers are only defined
-- when it runs.
--
-- Adds to the field of session `key`, whose data is `size` bytes as
-- stored ('@size': see prelude.lua's data_size) and whose field held
-- `prev` (false: absent), and keeps '@size' (also when `unsized`: it was
-- not kept yet). An increment whose new value is longer than the cap
-- allows is undone (the previous value put back): nothing changed.
-- HINCRBY, and HSET '@size' only when the value's length changed.
local function add(key, size, unsized, prev)
  local f = DATA .. ARGV[4]
  local value = redis.pcall('HINCRBY', key, f, ARGV[5])
  if type(value) == 'table' and value.err then return { 'nan' } end
  local len
  if value > -2 ^ 53 and value < 2 ^ 53 then
    len = #string.format('%d', value)
  else
    len = redis.call('HSTRLEN', key, f)
  end
  local after = size + len
  if prev then after = after - #prev else after = after + #ARGV[4] end
  if after == size and not unsized then return value end
  if after > size and after > tonumber(ARGV[6]) then
    if prev then redis.call('HSET', key, f, prev) else redis.call('HDEL', key, f) end
    -- '@size' may count more than is stored (a plain save shrinks values
    -- without it): false asks the caller to count afresh first.
    if not unsized then return false end
    return { 'big', after }
  end
  redis.call('HSET', key, '@size', string.format('%d', after))
  return value
end
local head_fields = redis.call('HMGET', KEYS[1], '@', '@size', DATA .. ARGV[4])
local times = head_fields[1]
if times and head_fields[2] then
  local _, seen, idle, abs = times_of(times)
  if seen then
    local idl = math.min(seen + idle, abs)
    local now, threshold = tonumber(ARGV[1]), tonumber(ARGV[3])
    local due = idl - now < threshold and math.min(now + idle, abs) > idl
    if idl > now and not due then
      local value = add(KEYS[1], tonumber(head_fields[2]), false, head_fields[3])
      if value then return value end
    end
  end
end
-- @judge
local st = stats_at(2)
local key, now = KEYS[1], tonumber(ARGV[1])
local h = head(key)
local status, reason, at = classify(st, key, h, now, tonumber(ARGV[2]))
if status ~= 'live' then return { status, reason, at } end
local kept = tonumber(redis.call('HGET', key, '@size'))
local prev = redis.call('HGET', key, DATA .. ARGV[4])
local value = add(key, kept or data_size(key), not kept, prev)
if value == false then value = add(key, data_size(key), true, prev) end
if type(value) == 'table' then return value end
if refresh_due(h, now, tonumber(ARGV[3])) then
  touch(st, key, h, now, tonumber(ARGV[2]))
end
return value
