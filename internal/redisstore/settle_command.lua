-- Claim a command for processing (the provisioner), or settle a command
-- the gateway could not confirm sent by storing its rejection; whichever
-- comes first wins, and a final outcome stored before wins over both.
-- KEYS[1] outcome of this command id from this partner (the idempotency record)
-- KEYS[2] the outcome's key before outcomes were scoped by partner (only
--         rewritten as found)
-- KEYS[3] the command's claim
-- ARGV[1] 'claim' or 'settle'
-- ARGV[2] claim: how long the claim lasts; settle: how long the outcome
--         is kept (milliseconds)
-- ARGV[3] settle: the rejection (outcome JSON)
-- Returns {0, stored outcome} when a final outcome is stored (a retryable
-- one is not final); {1, ''} when claimed now; {1, ARGV[3]} when settled
-- now; {2, ''} when a settlement meets a claim. What it finds and answers
-- with (a stored outcome, a claim) it rewrites as it is, so that the WAIT
-- that follows on this connection covers it.
-- All keys share the customer's hash tag (one Redis Cluster slot).
for _, k in ipairs({KEYS[1], KEYS[2]}) do
  local prev = redis.call('GET', k)
  if prev and not cjson.decode(prev)['retryable'] then
    redis.call('SET', k, prev, 'KEEPTTL')
    return {0, prev}
  end
end
if ARGV[1] == 'claim' then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
  return {1, ''}
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('SET', KEYS[3], '1', 'KEEPTTL')
  return {2, ''}
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[2])
return {1, ARGV[3]}
