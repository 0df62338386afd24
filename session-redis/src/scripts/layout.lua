-- layout.lua: reads and writes field '@' as layout.rs defines it (the
-- constants above this file come from there): the version, two bytes of
-- digit counts, then the creation time, the last-seen time less it
-- (zigzag), the idle timeout and the absolute deadline less the creation
-- time (zigzag), each in as few 7-bit digits as it needs. A script's
-- steady state may use these: scripts.rs puts them before it.
--
-- The times in field '@' `s`: created, seen, idle timeout, absolute
-- deadline (ms); nil when `s` is not in this layout.
local function times_of(s)
  if string.sub(s, 1, 1) ~= VERSION or string.find(s, '[\128-\255]') then return nil end
  local a, b = string.byte(s, 2, 3)
  if not b or a > 63 or b > 63 then return nil end
  local counts = { math.floor(a / 8), a % 8, math.floor(b / 8), b % 8 }
  if #s ~= 3 + counts[1] + counts[2] + counts[3] + counts[4] then return nil end
  local v, i = {}, 4
  for k = 1, 4 do
    local n = 0
    for j = i, i + counts[k] - 1 do n = n * 128 + string.byte(s, j) end
    v[k] = n
    i = i + counts[k]
  end
  local created = v[1]
  local function from(z)
    if z % 2 == 0 then return created + z / 2 end
    return math.max(created - (z + 1) / 2, 0)
  end
  return created, from(v[2]), v[3], from(v[4])
end
-- Field '@' for the times given (ms; clamped as layout.rs clamps them).
local function header(created, seen, idle, abs)
  created = math.min(created, TIME_MAX)
  local function zigzag(t)
    t = math.min(t, TIME_MAX)
    if t >= created then return math.min(t - created, DELTA_MAX) * 2 end
    return math.min(created - t, DELTA_MAX) * 2 - 1
  end
  local numbers = { created, zigzag(seen), math.min(idle, TIME_MAX), zigzag(abs) }
  local counts, out = {}, {}
  for k, n in ipairs(numbers) do
    local d = {}
    while n > 0 do
      local r = n % 128
      table.insert(d, 1, r)
      n = (n - r) / 128
    end
    counts[k] = #d
    if #d > 0 then out[#out + 1] = string.char(unpack(d)) end
  end
  return VERSION .. string.char(counts[1] * 8 + counts[2], counts[3] * 8 + counts[4]) ..
    table.concat(out)
end
