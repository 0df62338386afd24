-- group.lua: makes sure consumer group ARGV[1] exists on a bucket's
-- lifecycle stream, reading from the stream's start (XGROUP CREATE … 0
-- MKSTREAM; one that exists already is kept as it is). A stream this
-- makes gets the stream's TTL (prelude.lua's STREAM_AGE; every key the
-- store writes has one); a stream that has one keeps it.
-- KEYS: 1 the stream
-- ARGV: 1 the group
-- Reply: 1
local made = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
if type(made) == 'table' and made.err and not string.find(made.err, 'BUSYGROUP', 1, true) then
  return made
end
redis.call('PEXPIRE', KEYS[1], I(STREAM_AGE), 'NX')
return 1
