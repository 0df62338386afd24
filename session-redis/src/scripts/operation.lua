-- operation.lua: makes a step that is not idempotent safe to send again
-- (issue 26). scripts.rs wraps the scripts of such steps (create, apply,
-- increment, take, rotate, invalidate, revoke_user) in it: the part
-- before the step marker runs first, the step itself runs as a function,
-- and the part after the marker runs with its reply in `reply`.
--
-- KEYS[#KEYS - 1]: the step's operation key, `<key>:ops` beside the
--   session (or the user's index) the step changes, in its slot
-- KEYS[#KEYS]: the generation before it, `<key>:ops:old`
-- ARGV[#ARGV]: the step's operation id (22 characters, made by the store
--   once per call and kept for every resend of it; '' = none), and on a
--   resend '~' and the milliseconds since the first send ("<id>~<age>")
--
-- The operation keys are hashes from the id of each step applied there
-- recently to its reply (packed with cmsgpack). A step whose id is there
-- was applied: it answers that reply and changes nothing (a resend after
-- a lost reply, or a first send that reaches Redis after its resend
-- did). Otherwise it runs, and its id and reply are added in the same
-- script, so they are kept if and only if the step's change is, and
-- replicate with it. A step costs the same however many ids are kept.
--
-- How long ids are kept: by time, in two generations. Field '@' of
-- `<key>:ops` is "<born> <lost> <count>" (server TIME, milliseconds):
-- when it was made, before when ids may have been dropped, and how many
-- ids it holds. A step OPS_WINDOW or more after `born`, or one that finds
-- OPS_CAP ids, renames it to `<key>:ops:old` (dropping the older
-- generation) and starts a new one whose `lost` is the renamed one's
-- `born`. Each generation lives 2 * OPS_WINDOW from its birth, so an id
-- is kept at least OPS_WINDOW, unless more than OPS_CAP steps came within
-- that time (then `lost` says so).
--
-- A resend that does not find its id cannot be applied blindly: its first
-- send may have been applied and its id dropped since. It runs only when
-- every id applied since its first send (its age, plus OPS_SLACK for the
-- resend's own way to Redis and the servers' clocks) is still kept;
-- otherwise it answers OPERATION_UNKNOWN, which the store reports as an
-- unknown outcome, as before there were ids. Nothing is applied twice.
--
-- A reply that finds no session ('unknown') changed nothing and is not
-- kept, so requests with made-up ids leave no key behind.
local OPS_WINDOW, OPS_CAP, OPS_SLACK = 30000, 128, 250
local OPS, OLD_OPS = KEYS[#KEYS - 1], KEYS[#KEYS]
local OP, OP_AGE = ARGV[#ARGV], nil
if #OP > 22 then
  OP_AGE = tonumber(string.sub(OP, 24))
  OP = string.sub(OP, 1, 22)
end
local ops_head, ops_now, ops_lost = false, 0, 0
if OP ~= '' then
  local found = redis.call('HMGET', OPS, OP, '@')
  local t = redis.call('TIME')
  ops_head = found[2]
  ops_now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if ops_head then
    ops_lost = tonumber(string.match(ops_head, '^%d+ (%d+)'))
  end
  local kept, at = found[1], OPS
  -- The older generation exists (made at `lost`) only after a rename,
  -- until it expires.
  if not kept and ops_lost > 0 and ops_now < ops_lost + 2 * OPS_WINDOW then
    kept, at = redis.call('HGET', OLD_OPS, OP), OLD_OPS
  end
  if kept then
    -- A write, so that a WAIT after this resend covers the first send
    -- (the key's time to live unchanged).
    local ttl = redis.call('PTTL', at)
    if ttl > 0 then redis.call('PEXPIRE', at, ttl) end
    return cmsgpack.unpack(kept)
  end
  if OP_AGE then
    -- Every id applied since `kept_since` is still kept.
    local kept_since = math.max(ops_now - OPS_WINDOW, ops_lost)
    if ops_now - OP_AGE - OPS_SLACK < kept_since then
      return redis.error_reply('OPERATION_UNKNOWN outcome unknown: the ids applied since this step was first sent are no longer all kept')
    end
  end
end
-- @step
if OP ~= '' and not (type(reply) == 'table' and reply[1] == 'unknown') then
  local born, lost, count = ops_now, 0, 0
  if ops_head then
    local b, l, c = string.match(ops_head, '^(%d+) (%d+) (%d+)$')
    born, lost, count = tonumber(b), tonumber(l), tonumber(c)
    if ops_now - born >= OPS_WINDOW or count >= OPS_CAP then
      redis.call('RENAME', OPS, OLD_OPS)
      born, lost, count, ops_head = ops_now, born, 0, false
    end
  end
  redis.call('HSET', OPS, OP, cmsgpack.pack(reply), '@',
    string.format('%d %d %d', born, lost, count + 1))
  if not ops_head then
    redis.call('PEXPIRE', OPS, 2 * OPS_WINDOW)
  end
end
return reply
