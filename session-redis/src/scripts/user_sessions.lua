-- user_sessions.lua: a user's active sessions (guarantee 11): the count is
-- O(log n), the list one pass over the index.
-- KEYS: 1 the user's index
-- ARGV: 1 now, 2 mode ('count' | 'list')
-- Reply: count | {{@pub, @created, @seen, @idl, @abs, @meta}…}
local ukey, now = KEYS[1], tonumber(ARGV[1])
if ARGV[2] == 'count' then return redis.call('ZCOUNT', ukey, '(' .. I(now), '+inf') end
local out = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', ukey, '(' .. I(now), '+inf')) do
  local v = redis.call('HMGET', m, '@', '@meta', '@end', '@pub')
  -- A damaged '@' is left out here (loading it reports it as corrupt).
  if v[1] and not v[3] and intact(v[1]) then
    local t = unpacked({}, v[1])
    out[#out + 1] = { v[4], t['@created'], t['@seen'], t['@idl'], t['@abs'], v[2] or '{}' }
  end
end
return out
