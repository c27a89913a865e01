-- Apply one command to one customer, atomically.
-- KEYS[1] customer hash (fields doc, version)
-- KEYS[2] history list
-- KEYS[3] outcome of this command id from this partner (the idempotency record)
-- KEYS[4] the customer's outbox hash (event id -> event JSON)
-- KEYS[5] the outcome's key before outcomes were scoped by partner (only
--         rewritten as found)
-- ARGV[1] outcome JSON
-- ARGV[2] base version ("0" creates the customer) or "reject"
-- ARGV[3] new customer JSON (version = base + 1)
-- ARGV[4] history entry JSON
-- ARGV[5] how long the outcome is kept, in milliseconds
-- ARGV[6] event id ("" for none)
-- ARGV[7] event JSON, put in the outbox with the change so that it is
--         published even if the process dies right after this script
-- A stored outcome marked retryable (a rejection for a passing reason) is
-- replaced. Returns {0, stored outcome} if the command was already processed
-- (rewritten as it is, so that the WAIT that follows on this connection
-- covers it: the write that stored it may not have reached a replica),
-- {1, outcome} when recorded now, {2, current version} when stale.
-- All keys share the customer's hash tag (one Redis Cluster slot).
for _, k in ipairs({KEYS[3], KEYS[5]}) do
  local prev = redis.call('GET', k)
  if prev and not cjson.decode(prev)['retryable'] then
    redis.call('SET', k, prev, 'KEEPTTL')
    return {0, prev}
  end
end
if ARGV[2] ~= 'reject' then
  local cur = redis.call('HGET', KEYS[1], 'version')
  local base = tonumber(ARGV[2])
  if base == 0 then
    if cur then
      return {2, cur}
    end
  elseif (not cur) or tonumber(cur) ~= base then
    return {2, cur or 'absent'}
  end
  redis.call('HSET', KEYS[1], 'doc', ARGV[3], 'version', tostring(base + 1))
  redis.call('RPUSH', KEYS[2], ARGV[4])
  if ARGV[6] ~= '' then
    redis.call('HSET', KEYS[4], ARGV[6], ARGV[7])
  end
end
redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[5])
return {1, ARGV[1]}
