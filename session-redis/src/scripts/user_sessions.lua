-- user_sessions.lua: a user's active sessions (guarantee 11): the count is
-- O(log n), the list one pass over the index.
-- KEYS: 1 the user's index
-- ARGV: 1 now, 2 mode ('count' | 'list')
-- Reply: count | {{@pub, @created, @seen, @idl, @abs, @meta}…}
local ukey, now = KEYS[1], tonumber(ARGV[1])
if ARGV[2] == 'count' then return redis.call('ZCOUNT', ukey, '(' .. I(now), '+inf') end
local out = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', ukey, '(' .. I(now), '+inf')) do
  local row = redis.call('HMGET', m, '@pub', '@created', '@seen', '@idl', '@abs', '@meta', '@end')
  if row[1] and row[2] and not row[7] then
    row[7] = nil
    out[#out + 1] = row
  end
end
return out
