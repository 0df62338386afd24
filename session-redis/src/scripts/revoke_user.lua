-- revoke_user.lua: ends one (by public id) or all but one of a user's
-- sessions in one step (guarantees 5 and 8), in one pass over the index:
-- O(n) for n sessions, the index and analytics updated once at the end.
-- KEYS: 1 the user's index, 2-4 the bucket's analytics
-- ARGV: 1 now, 2 retention ms, 3 reason, 4 mode ('one' | 'all'),
--       5 public id (the one to end, or the one to keep; '' = none),
--       6 user id
-- Reply: {damaged, ended public ids…}: `damaged` counts the records whose
-- times did not decode, ended where they lay (not listed: their public id
-- may be damaged too).
local st = stats_at(2)
local ukey, now, retention = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local reason, mode, pub = ARGV[3], ARGV[4], ARGV[5]
local ended, drop, damaged = {}, {}, 0
local forget = now + retention
local at, until_ms, keep = I(now), I(forget), I(math.max(retention, 1))
for _, m in ipairs(redis.call('ZRANGE', ukey, 0, -1)) do
  -- Only the three fields this needs: this loop is the cost of revoke-all.
  local v = redis.call('HMGET', m, '@end', '@', '@pub')
  if v[1] or not v[2] then
    drop[#drop + 1] = m
  elseif not intact(v[2]) then
    -- Damaged: ended where it lies when this call would end it.
    local hit = v[3] == pub
    if (mode == 'one' and hit) or (mode == 'all' and not hit) then
      end_damaged(st, m, reason, now, retention)
      drop[#drop + 1] = m
      damaged = damaged + 1
    end
  else
    local t = unpacked({ ['@pub'] = v[3] }, v[2])
    local hit = t['@pub'] == pub
    if expires_at(t) <= now then
      expire(st, m, head(m), now, retention)
    elseif (mode == 'one' and hit) or (mode == 'all' and not hit) then
      redis.call('DEL', m)
      redis.call('HSET', m, '@end', reason, '@at', at, '@forget', until_ms, '@pub', t['@pub'])
      redis.call('PEXPIRE', m, keep)
      ended[#ended + 1] = t['@pub']
      drop[#drop + 1] = m
    end
  end
end
-- Batched removals: unpack takes a bounded number of arguments.
for i = 1, #drop, 500 do
  local batch = { unpack(drop, i, math.min(i + 499, #drop)) }
  redis.call('ZREM', ukey, unpack(batch))
  for j, m in ipairs(batch) do batch[j] = member(m) end
  redis.call('ZREM', st.sessions, unpack(batch))
end
user_changed(st, ARGV[6], ukey, now)
table.insert(ended, 1, damaged)
return ended
