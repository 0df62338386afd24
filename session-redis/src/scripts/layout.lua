-- layout.lua: reads and writes field '@' as layout.rs defines it (the
-- constants above this file come from there). A script's steady state may
-- use these: scripts.rs puts them before it.
--
-- Seven digits of 7 bits from position `i` of `s` as a number.
local function time_at(s, i)
  local a, b, c, d, e, f, g = string.byte(s, i, i + 6)
  return (((((a * 128 + b) * 128 + c) * 128 + d) * 128 + e) * 128 + f) * 128 + g
end
-- The times in field '@' `s`: created, seen, idle timeout, absolute
-- deadline (ms); nil when `s` is not in this layout.
local function times_of(s)
  if #s ~= HEADER_LEN or string.sub(s, 1, 1) ~= VERSION or string.find(s, '[\128-\255]') then
    return nil
  end
  return time_at(s, 2), time_at(s, 2 + TIME_DIGITS), time_at(s, 2 + 2 * TIME_DIGITS),
    time_at(s, 2 + 3 * TIME_DIGITS)
end
-- Time `n` (ms, clamped to TIME_MAX) as seven digits of 7 bits.
local function time_digits(n)
  if n > TIME_MAX then n = TIME_MAX end
  local d = {}
  for i = TIME_DIGITS, 1, -1 do
    local r = n % 128
    d[i] = r
    n = (n - r) / 128
  end
  return string.char(unpack(d))
end
-- Field '@' for the times given (ms).
local function header(created, seen, idle, abs)
  return VERSION .. time_digits(created) .. time_digits(seen) .. time_digits(idle) ..
    time_digits(abs)
end
