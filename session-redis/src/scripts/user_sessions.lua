-- user_sessions.lua: a user's active sessions, pruning the index
-- (guarantee 11).
-- KEYS: 1 the user's index, 2-4 the bucket's analytics
-- ARGV: 1 now, 2 user id, 3 mode ('count' | 'list')
-- Reply: count | {{@pub, @created, @seen, @idl, @abs, @meta}…}
local st = stats_at(2)
local live = user_changed(st, ARGV[2], KEYS[1], tonumber(ARGV[1]))
if ARGV[3] == 'count' then return #live end
local out = {}
for _, s in ipairs(live) do
  out[#out + 1] = redis.call('HMGET', s.key, '@pub', '@created', '@seen', '@idl', '@abs', '@meta')
end
return out
