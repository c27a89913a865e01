-- Claim a command for processing, or return its final outcome.
-- KEYS[1] outcome of this command id from this partner (the idempotency record)
-- KEYS[2] the outcome's key before outcomes were scoped by partner (read only)
-- KEYS[3] the command's claim
-- ARGV[1] how long the claim lasts, in milliseconds
-- Returns {0, stored outcome} when a final outcome is stored (a retryable
-- one is not final), {1, ''} when claimed now: the gateway can no longer
-- settle the command (settle_command.lua) while the claim lasts.
-- All keys share the customer's hash tag (one Redis Cluster slot).
for _, k in ipairs({KEYS[1], KEYS[2]}) do
  local prev = redis.call('GET', k)
  if prev and not cjson.decode(prev)['retryable'] then
    return {0, prev}
  end
end
redis.call('SET', KEYS[3], '1', 'PX', ARGV[1])
return {1, ''}
