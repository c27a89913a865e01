package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"
)

// rateKey is the key of one rate-limit bucket; bucket names the caller
// (e.g. "partner:<id>"), and is the hash tag.
func rateKey(bucket string) string { return "ratelimit:{" + bucket + "}" }

// rateScript is a token bucket kept as GCRA (the generic cell rate
// algorithm): the key holds the bucket's theoretical arrival time (TAT),
// in microseconds, the time at which the bucket would be full again. A
// request at now is allowed when TAT - now leaves room for one more
// request within the burst, and moves TAT one emission interval on. The
// key expires when the bucket is full again: an idle bucket takes no
// memory, and a missing key is a full bucket.
// KEYS[1] the bucket; ARGV[1] now (µs), ARGV[2] emission interval (µs,
// 1 s / rate), ARGV[3] burst.
// Returns {1, 0} when allowed, {0, µs to wait} when not.
//
// The bucket is not written to the AOF nor sent to replicas
// (redis.set_repl): a request does not wait for an fsync of a rate-limit
// state that nobody needs back. A Redis restart or failover refills the
// buckets it held (at most one burst more per caller, once).
var rateScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then
  tat = now
end
local allow_at = tat + interval - burst * interval
if now < allow_at then
  return {0, math.ceil(allow_at - now)}
end
tat = tat + interval
redis.set_repl(redis.REPL_NONE)
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
return {1, 0}`)

// TakeRateToken takes one request from the token bucket named bucket,
// which refills at rate requests per second up to burst, at now: ok, or
// not ok with how long to wait for the next token. The bucket lives in
// Redis, so every gateway replica shares it; now is the caller's clock
// (replicas' clocks should agree to within a fraction of 1/rate).
func (s *Store) TakeRateToken(ctx context.Context, bucket string, rate float64, burst int, now time.Time) (ok bool, retryAfter time.Duration, err error) {
	if rate <= 0 || math.IsNaN(rate) || math.IsInf(rate, 0) || burst < 1 {
		return false, 0, fmt.Errorf("rate limit of %s: rate %g and burst %d must be positive", bucket, rate, burst)
	}
	interval := float64(time.Second/time.Microsecond) / rate
	res, err := rateScript.Run(ctx, s.rdb, []string{rateKey(bucket)}, now.UnixMicro(), interval, burst).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("rate limit of %s: %w", bucket, err)
	}
	if len(res) != 2 {
		return false, 0, errors.New("rate limit: unexpected script result")
	}
	return res[0] == 1, time.Duration(res[1]) * time.Microsecond, nil
}
