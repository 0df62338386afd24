-- revoke_user.lua: ends one (by public id) or all but one of a user's
-- sessions (guarantees 5 and 8), one bounded chunk per call: at most
-- ARGV[7] index members are examined, so no call runs long however many
-- sessions the user has (guarantee 5: about 25 us a session in Redis). The
-- caller calls again while the reply says more remain. In 'all' mode every
-- member examined leaves the index except the kept one, so each chunk
-- starts again from the front (ARGV[8] is 0): a member a concurrent step
-- removes cannot shift another out of reach, and every session that
-- existed when the first chunk ran is ended by the last. In 'one' mode the
-- session is found through the user's device map (prelude.lua's devices:
-- public id -> key, checked against the index and the session), O(log n)
-- whatever the number of sessions (guarantee 5), in one call.
-- KEYS: 1 the user's index, 2-4 the bucket's analytics
-- ARGV: 1 now, 2 retention ms, 3 reason, 4 mode ('one' | 'all'),
--       5 public id (the one to end, or the one to keep; '' = none),
--       6 user id, 7 chunk size, 8 offset
-- Each session ended gets its 'ended' event in the bucket's lifecycle
-- stream (prelude.lua's event), as finish and expire write it.
-- Reply: {damaged, more (0/1), next offset, ended public ids…}: `damaged`
-- counts the records whose times did not decode, ended where they lay
-- (not listed: their public id may be damaged too).
local st = stats_at(2)
local ukey, now, retention = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local reason, mode, pub = ARGV[3], ARGV[4], ARGV[5]
local chunk, offset = tonumber(ARGV[7]), tonumber(ARGV[8])
local ended, drop, damaged, stayed, found = {}, {}, 0, 0, false
local forget = now + retention
local at, until_ms, keep = I(now), I(forget), I(math.max(retention, 1))
local members
if mode == 'one' then
  -- The one session the device map names, if the index still holds it.
  local m = redis.call('HGET', devices(ukey), pub)
  members = {}
  if m and redis.call('ZSCORE', ukey, m) then members[1] = m end
else
  members = redis.call('ZRANGE', ukey, offset, offset + chunk - 1)
end
for _, m in ipairs(members) do
  -- Only the three fields this needs: this loop is the cost of revoke-all.
  local v = redis.call('HMGET', m, '@end', '@', '@pub')
  local hit = v[3] == pub
  local target = (mode == 'one' and hit) or (mode == 'all' and not hit)
  if v[1] or not v[2] then
    drop[#drop + 1] = m
  elseif not intact(v[2]) then
    -- Damaged: ended where it lies when this call would end it.
    if target then
      end_damaged(st, m, reason, now, retention)
      drop[#drop + 1] = m
      damaged = damaged + 1
      found = found or mode == 'one'
    else
      stayed = stayed + 1
    end
  else
    local t = unpacked({ ['@pub'] = v[3] }, v[2])
    if expires_at(t) <= now then
      expire(st, m, head(m), now, retention)
    elseif target then
      redis.call('DEL', m)
      redis.call('HSET', m, '@end', reason, '@at', at, '@forget', until_ms, '@pub', t['@pub'])
      redis.call('PEXPIRE', m, keep)
      event(st, 'ended', t['@pub'], ARGV[6], reason, now)
      ended[#ended + 1] = t['@pub']
      drop[#drop + 1] = m
      found = found or mode == 'one'
    else
      stayed = stayed + 1
    end
  end
  if found then break end
end
-- Batched removals: unpack takes a bounded number of arguments.
for i = 1, #drop, 500 do
  local batch = { unpack(drop, i, math.min(i + 499, #drop)) }
  redis.call('ZREM', ukey, unpack(batch))
  for j, m in ipairs(batch) do batch[j] = member(m) end
  redis.call('ZREM', st.sessions, unpack(batch))
end
for i = 1, #ended, 500 do
  redis.call('HDEL', devices(ukey), unpack(ended, i, math.min(i + 499, #ended)))
end
if mode == 'one' and not found and pub ~= '' then
  -- A stale hint (its session is gone or another's) goes too.
  redis.call('HDEL', devices(ukey), pub)
end
user_changed(st, ARGV[6], ukey, now)
local more = 0
if mode == 'all' and #members == chunk then more = 1 end
local next_offset = 0
if mode == 'one' then next_offset = offset + stayed end
local reply = { damaged, more, next_offset }
for _, p in ipairs(ended) do reply[#reply + 1] = p end
return reply
