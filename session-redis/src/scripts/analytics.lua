-- analytics.lua: exact counts and pages of active users without scanning
-- the keyspace (guarantee 11): O(log N) per call, plus pruning of entries
-- that expired.
-- KEYS: 1-3 analytics (sessions, users, names)
-- ARGV: 1 now, 2 mode ('sessions' | 'users' | 'page'), 3 after ('' = from
--       the start; page only), 4 page size
-- Reply: count | {{user ids…}, more (0/1)}
stats_keys(1)
local now, mode = tonumber(ARGV[1]), ARGV[2]
if mode == 'sessions' then
  redis.call('ZREMRANGEBYSCORE', S.sessions, '-inf', now)
  return redis.call('ZCOUNT', S.sessions, '(' .. now, '+inf')
end
if mode == 'users' then
  return redis.call('ZCOUNT', S.users, '(' .. now, '+inf')
end
local size = tonumber(ARGV[4])
local from = '-'
if ARGV[3] ~= '' then from = '(' .. ARGV[3] end
local page = {}
while #page <= size do
  local batch = redis.call('ZRANGEBYLEX', S.names, from, '+', 'LIMIT', 0, size + 1)
  if #batch == 0 then break end
  for _, user in ipairs(batch) do
    local score = redis.call('ZSCORE', S.users, user)
    if score and tonumber(score) > now then
      if #page <= size then page[#page + 1] = user end
    else
      redis.call('ZREM', S.names, user)
      redis.call('ZREM', S.users, user)
    end
    from = '(' .. user
  end
end
local more = 0
if #page > size then
  page[#page] = nil
  more = 1
end
return { page, more }
