-- Settle a command the gateway could not confirm sent: store its rejection,
-- unless a final outcome is stored or the provisioner has claimed the
-- command (claim.lua) and may be making its side effects.
-- KEYS[1] outcome of this command id from this partner (the idempotency record)
-- KEYS[2] the outcome's key before outcomes were scoped by partner (read only)
-- KEYS[3] the command's claim
-- ARGV[1] the rejection (outcome JSON)
-- ARGV[2] how long the outcome is kept, in milliseconds
-- Returns {0, stored outcome} when a final outcome is stored, {1, ARGV[1]}
-- when settled now, {2, ''} when the command is claimed.
-- All keys share the customer's hash tag (one Redis Cluster slot).
for _, k in ipairs({KEYS[1], KEYS[2]}) do
  local prev = redis.call('GET', k)
  if prev and not cjson.decode(prev)['retryable'] then
    return {0, prev}
  end
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  return {2, ''}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, ARGV[1]}
