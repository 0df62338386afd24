-- operation.lua: makes a step that is not idempotent safe to send again
-- (issue 26). scripts.rs wraps the scripts of such steps (create, apply,
-- increment, take, rotate, invalidate, revoke_user) in it: the part
-- before '-- @step' runs first, the step itself runs as a function, and
-- the part after '-- @step' runs with its reply in `reply`.
--
-- KEYS[#KEYS]: the step's operation key, `<key>:o` beside the session (or
--   the user's index) the step changes, in its slot
-- ARGV[#ARGV]: the step's operation id (22 characters, made by the store
--   once per call and kept for every resend of it; '' = none)
--
-- The operation key holds the ids of the steps applied there recently,
-- each with its reply, newest first: two hex digits (how many), then per
-- step its id, eight hex digits (the reply's length) and the reply
-- packed with cmsgpack. A step whose id is there was applied: it answers
-- that reply and changes nothing (a resend after a lost reply, or a first
-- send that reaches Redis after its resend did). Otherwise it runs, and
-- its id and reply are added in the same script, so they are kept if and
-- only if the step's change is, and replicate with it. At most OPS_MAX
-- ids are kept (then the newest OPS_KEEP - 1 and the new one), and the
-- key lives OPS_TTL after the last step that wrote it: far longer than a
-- call's deadline, within which every resend is sent. A reply that finds
-- no session ('unknown') changed nothing and is not kept, so requests
-- with made-up ids leave no key behind.
local OPS_TTL, OPS_MAX, OPS_KEEP = 30000, 48, 32
local OPS, OP = KEYS[#KEYS], ARGV[#ARGV]
local ring = false
if OP ~= '' then
  ring = redis.call('GET', OPS)
  if ring then
    local at = string.find(ring, OP, 3, true)
    if at then
      -- A write, so that a WAIT after this resend covers the first send.
      redis.call('PEXPIRE', OPS, OPS_TTL)
      local len = tonumber(string.sub(ring, at + 22, at + 29), 16)
      return cmsgpack.unpack(string.sub(ring, at + 30, at + 29 + len))
    end
  end
end
-- @step
if OP ~= '' and not (type(reply) == 'table' and reply[1] == 'unknown') then
  local packed_reply = cmsgpack.pack(reply)
  local n, rest = 0, ''
  if ring then
    n, rest = tonumber(string.sub(ring, 1, 2), 16), string.sub(ring, 3)
    if n >= OPS_MAX then
      local at = 1
      for _ = 1, OPS_KEEP - 1 do
        at = at + 30 + tonumber(string.sub(rest, at + 22, at + 29), 16)
      end
      n, rest = OPS_KEEP - 1, string.sub(rest, 1, at - 1)
    end
  end
  redis.call('SET', OPS, string.format('%02x', n + 1) .. OP .. string.format('%08x', #packed_reply)
    .. packed_reply .. rest, 'PX', OPS_TTL)
end
return reply
