-- revoke_user.lua: ends one (by public id) or all but one of a user's
-- sessions in one step (guarantees 5 and 8).
-- KEYS: 1 the user's index, 2-4 the bucket's analytics
-- ARGV: 1 now, 2 retention ms, 3 reason, 4 mode ('one' | 'all'),
--       5 public id (the one to end, or the one to keep; '' = none)
-- Reply: {ended public ids…}
local st = stats_at(2)
local ukey, now, retention = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local mode, pub = ARGV[4], ARGV[5]
local ended = {}
for _, s in ipairs(scan_index(ukey, now)) do
  local hit = s.pub == pub
  if (mode == 'one' and hit) or (mode == 'all' and not hit) then
    ended[#ended + 1] = finish(st, s.key, read(s.key), ARGV[3], now, retention)
  end
end
return ended
