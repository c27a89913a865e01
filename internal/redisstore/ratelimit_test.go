package redisstore_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// A bucket gives its burst at once, then one request per 1/rate, telling
// how long to wait; its key expires once the bucket is full again.
// TestTakeRateTokenWritesNothingDurable: taking tokens adds nothing to the
// append-only file (no fsync for a request's rate limit), while a durable
// write does.
func TestTakeRateTokenWritesNothingDurable(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	aofSize := func() int64 {
		t.Helper()
		info, err := s.Client().Info(ctx, "persistence").Result()
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "aof_current_size:"); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
		}
		t.Fatalf("no aof_current_size: the test Redis must have its AOF on\n%s", info)
		return 0
	}
	before := aofSize()
	for range 5 {
		if ok, _, err := s.TakeRateToken(ctx, "partner:"+uuid.NewString(), 10, 10, time.Now()); err != nil || !ok {
			t.Fatalf("take: %v %v", ok, err)
		}
	}
	if after := aofSize(); after != before {
		t.Fatalf("the AOF grew from %d to %d bytes for rate-limit tokens", before, after)
	}
	if err := s.Client().Set(ctx, "aof-probe:"+uuid.NewString(), "x", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if after := aofSize(); after <= before {
		t.Fatalf("a durable SET left the AOF at %d bytes: the check above proves nothing", after)
	}
}

func TestTakeRateTokenIsATokenBucket(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	bucket := "partner:" + uuid.NewString()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	take := func(at time.Time) (bool, time.Duration) {
		t.Helper()
		ok, wait, err := s.TakeRateToken(ctx, bucket, 4, 3, at) // one token per 250 ms
		if err != nil {
			t.Fatal(err)
		}
		return ok, wait
	}
	for i := range 3 {
		if ok, _ := take(now); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	if ok, wait := take(now); ok || wait != 250*time.Millisecond {
		t.Fatalf("request over the burst: ok=%v wait %v, want refused, wait 250ms", ok, wait)
	}
	if ok, wait := take(now.Add(100 * time.Millisecond)); ok || wait != 150*time.Millisecond {
		t.Fatalf("100 ms later: ok=%v wait %v, want refused, wait 150ms", ok, wait)
	}
	if ok, _ := take(now.Add(250 * time.Millisecond)); !ok {
		t.Fatal("a token 250 ms later refused")
	}
	if ok, _ := take(now.Add(250 * time.Millisecond)); ok {
		t.Fatal("a second token 250 ms later accepted")
	}
	ttl, err := s.Client().PTTL(ctx, "ratelimit:{"+bucket+"}").Result()
	if err != nil || ttl <= 0 || ttl > 2*time.Second {
		t.Fatalf("bucket key TTL %v, %v; want it to expire about when the bucket is full (1 s)", ttl, err)
	}
	for _, bad := range []struct {
		rate  float64
		burst int
	}{{0, 1}, {-1, 1}, {1, 0}} {
		if _, _, err := s.TakeRateToken(ctx, bucket, bad.rate, bad.burst, now); err == nil {
			t.Errorf("rate %g burst %d accepted", bad.rate, bad.burst)
		}
	}
}
