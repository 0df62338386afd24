-- analytics.lua: exact counts and pages of active users over every bucket,
-- without scanning the keyspace (guarantee 11): O(buckets x log N).
-- KEYS: the analytics of every bucket, three each (sessions, users, names)
-- ARGV: 1 now, 2 mode ('sessions' | 'users' | 'page'), 3 after ('' = from
--       the start; page only), 4 page size
-- Reply: count | {{user ids…}, more (0/1)}
local now, mode = tonumber(ARGV[1]), ARGV[2]
local total = 0
if mode == 'sessions' or mode == 'users' then
  for first = 1, #KEYS, 3 do
    local st = stats_at(first)
    if mode == 'sessions' then
      redis.call('ZREMRANGEBYSCORE', st.sessions, '-inf', now)
      total = total + redis.call('ZCOUNT', st.sessions, '(' .. now, '+inf')
    else
      total = total + redis.call('ZCOUNT', st.users, '(' .. now, '+inf')
    end
  end
  return total
end
local size = tonumber(ARGV[4])
local candidates = {}
for first = 1, #KEYS, 3 do
  local st = stats_at(first)
  local from, found = '-', 0
  if ARGV[3] ~= '' then from = '(' .. ARGV[3] end
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
table.sort(candidates)
local page, more = {}, 0
for i = 1, math.min(#candidates, size) do page[i] = candidates[i] end
if #candidates > size then more = 1 end
return { page, more }
