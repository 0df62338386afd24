-- analytics.lua: exact counts and pages of active users (guarantee 11),
-- over the buckets this node holds, without scanning the keyspace. On a
-- single Redis one call covers every bucket; on Cluster the store sends
-- it once to each primary and adds up (buckets another node holds are
-- skipped: this script is flagged allow-cross-slot-keys, which reaches
-- the keys of this node only).
-- KEYS: none (the bucket keys are derived from the prefix)
-- ARGV: 1 now, 2 mode ('sessions' | 'users' | 'page'), 3 key prefix,
--       4 after ('' = from the start; page only), 5 page size
-- Reply: count | {the first page size + 1 active user ids after `after`}
local now, mode, prefix = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local function bucket(b)
  local p = prefix .. ':{b' .. b .. '}:a:'
  return { sessions = p .. 'sessions', users = p .. 'users', names = p .. 'names' }
end
local function here(st)
  local probe = redis.pcall('EXISTS', st.sessions)
  return not (type(probe) == 'table' and probe.err)
end
local total = 0
local size = tonumber(ARGV[5])
local candidates = {}
for b = 0, BUCKETS - 1 do
  local st = bucket(b)
  if here(st) then
    if mode == 'sessions' then
      total = total + redis.call('ZCOUNT', st.sessions, '(' .. I(now), '+inf')
    elseif mode == 'users' then
      total = total + redis.call('ZCOUNT', st.users, '(' .. I(now), '+inf')
    else
      local from, found = '-', 0
      if ARGV[4] ~= '' then from = '(' .. ARGV[4] end
      while found <= size do
        local batch = redis.call('ZRANGEBYLEX', st.names, from, '+', 'LIMIT', 0, size + 1)
        if #batch == 0 then break end
        for _, user in ipairs(batch) do
          local score = redis.call('ZSCORE', st.users, user)
          if score and tonumber(score) > now then
            if found <= size then
              candidates[#candidates + 1] = user
              found = found + 1
            end
          else
            redis.call('ZREM', st.names, user)
            redis.call('ZREM', st.users, user)
          end
          from = '(' .. user
        end
      end
    end
  end
end
if mode ~= 'page' then return total end
table.sort(candidates)
local page = {}
for i = 1, math.min(#candidates, size + 1) do page[i] = candidates[i] end
return page
