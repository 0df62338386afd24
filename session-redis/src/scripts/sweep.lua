-- sweep.lua: the expiry sweep of one bucket (the lifecycle stream's
-- promise that an expiry nobody observes still gets its event). Expires up
-- to ARGV[3] of the bucket's sessions past their deadline, oldest deadline
-- first, as any step that finds one does (prelude.lua's expire, which
-- writes the 'expired' event with the deadline as its time), and trims the
-- bucket's stream by age (MINID, by the server's clock, which made the
-- entry ids). A streamed session's key outlives its deadline by the
-- retention (prelude.lua's live_ttl), so the sweep finds it while its
-- public id and user can still be read; past that the key is gone, and its
-- analytics member is dropped with no event.
-- KEYS: 1-3 the bucket's analytics (sessions, users, names)
-- ARGV: 1 now, 2 retention ms, 3 the most sessions to expire
-- Reply: {expired, damaged}: `damaged` counts records whose times did not
-- decode, ended where they lay (as 'expired', their events written when
-- they have a public id).
local st = stats_at(1)
local now, retention, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local expired, damaged = 0, 0
-- Each member examined leaves the due range (expired, dropped, or scored
-- by its later deadline), so the next read finds others. Members without
-- an event to write (gone, ended) do not count towards `max`, but at most
-- 4 * `max` are examined per call, so a call stays short (guarantee 5).
local examined = 0
while expired < max and examined < 4 * max do
  local due = redis.call('ZRANGEBYSCORE', st.sessions, '-inf', I(now), 'LIMIT', 0, max - expired)
  if #due == 0 then break end
  for _, m in ipairs(due) do
    examined = examined + 1
    local key = session_key(st, m)
    local v = redis.call('HMGET', key, '@', '@end', '@ukey', '@user')
    if not v[1] or v[2] then
      -- Gone (past the retention), or ended already.
      redis.call('ZREM', st.sessions, m)
    elseif not intact(v[1]) then
      -- One damaged record does not stop the sweep (guarantee 13).
      end_damaged(st, key, 'expired', now, retention)
      if v[3] then
        redis.call('ZREM', v[3], key)
        user_changed(st, v[4], v[3], now)
      end
      damaged = damaged + 1
    else
      local h = head(key)
      local exp = expires_at(h)
      if exp <= now then
        expire(st, key, h, now, retention)
        if h['@ukey'] then user_changed(st, h['@user'], h['@ukey'], now) end
        expired = expired + 1
      else
        redis.call('ZADD', st.sessions, I(exp), m)
      end
    end
  end
end
local time = redis.call('TIME')
local oldest = tonumber(time[1]) * 1000 - STREAM_AGE
if oldest > 0 then
  redis.call('XTRIM', stream_of(st), 'MINID', '~', I(oldest))
end
return { expired, damaged }
