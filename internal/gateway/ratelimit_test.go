package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/access"
	"github.com/textkit/customers/internal/gateway"
	"github.com/textkit/customers/internal/redisstore"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// A partner's burst is its own: the request after it is refused with 429,
// Retry-After and RATE_LIMITED before anything runs, for every key of
// that partner; another partner and the operators are unaffected, and the
// bucket refills with time. The clock is the test's, so no timing matters.
func TestRateLimitPerPartner(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	h := newHarness(t, func(c *gateway.Config) {
		c.Now = clock.Now
		c.RateLimits = gateway.RateLimits{PartnerRate: 0.5, PartnerBurst: 3, OperatorRate: 1, OperatorBurst: 6}
	})
	const q = `{ viewer { role } }`
	ok := func(key, who string, n int) {
		t.Helper()
		for i := range n {
			if r := h.do(key, q, nil); r.Status != http.StatusOK || len(r.Errors) > 0 {
				t.Fatalf("%s request %d of its burst: %d %s", who, i+1, r.Status, r.Raw)
			}
		}
	}
	limited := func(key, who, retryAfter string) {
		t.Helper()
		r := h.do(key, registerQuery("limited", `{ response }`), nil)
		if r.Status != http.StatusTooManyRequests || r.Code() != "RATE_LIMITED" || r.Header.Get("Retry-After") != retryAfter || r.HasData {
			t.Fatalf("%s over its burst: got %d Retry-After %q %s, want 429 Retry-After %s RATE_LIMITED",
				who, r.Status, r.Header.Get("Retry-After"), r.Raw, retryAfter)
		}
		if !strings.Contains(r.Message(), "retry after "+retryAfter+" s") {
			t.Fatalf("%s: message %q does not say when to retry", who, r.Message())
		}
	}

	ok(h.PartnerKey, "partner", 3)
	limited(h.PartnerKey, "partner", "2") // one token per 2s
	limited(h.PartnerKey2, "the partner's second key", "2")
	ok(h.OtherPartnerKey, "other partner", 3)
	limited(h.OtherPartnerKey, "other partner", "2")
	ok(h.OperatorKey, "operator", 6)
	limited(h.OperatorKey, "operator", "1")
	if n := h.Pub.calls.Load(); n != 0 {
		t.Fatalf("refused requests published %d commands", n)
	}

	clock.Advance(2 * time.Second)
	ok(h.PartnerKey2, "partner after 2s", 1)
	limited(h.PartnerKey, "partner after its refill", "2")
}

// keyCounter counts API key lookups, the Redis reads a flood of bad keys
// would cause.
type keyCounter struct {
	gateway.Store
	lookups atomic.Int64
}

func (k *keyCounter) APIKey(ctx context.Context, id string) (access.APIKey, error) {
	k.lookups.Add(1)
	return k.Store.APIKey(ctx, id)
}

// Requests without a valid key are limited per client address: after the
// burst of failures an address is refused 429 RATE_LIMITED before its key
// is looked up (even a valid one, until a token is back), while other
// addresses, and valid keys that never fail, are unaffected. IPv6
// addresses share the bucket of their /64.
func TestUnauthenticatedRequestsLimitedPerAddress(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	h := newHarness(t, nil)
	counter := &keyCounter{Store: h.Store}
	handler := h.newHandler(func(c *gateway.Config) {
		c.Now = clock.Now
		c.Store = counter
		c.RateLimits = gateway.RateLimits{UnauthenticatedRate: 0.5, UnauthenticatedBurst: 3}
	})
	send := func(addr, key string) *result {
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query":"{ viewer { role } }"}`))
		req.RemoteAddr = addr
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		return serve(handler, req)
	}
	const attacker, neighbour = "198.51.100.7:4000", "198.51.100.8:4000"
	// a real key's id with a wrong secret: looked up, then refused
	badKey := h.PartnerKey[:len(h.PartnerKey)-1] + "0"
	if strings.HasSuffix(h.PartnerKey, "0") {
		badKey = h.PartnerKey[:len(h.PartnerKey)-1] + "1"
	}
	for i, key := range []string{badKey, "", badKey} {
		if r := send(attacker, key); r.Status != http.StatusUnauthorized || r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("failure %d within the burst: %d %s", i+1, r.Status, r.Raw)
		}
	}
	before := counter.lookups.Load()
	if before != 2 {
		t.Fatalf("the burst's two bad keys made %d lookups, want 2 (is the test key well-formed?)", before)
	}
	for range 50 {
		r := send(attacker, badKey)
		if r.Status != http.StatusTooManyRequests || r.Code() != "RATE_LIMITED" || r.Header.Get("Retry-After") != "2" {
			t.Fatalf("bad key over the burst: %d Retry-After %q %s, want 429 RATE_LIMITED Retry-After 2", r.Status, r.Header.Get("Retry-After"), r.Raw)
		}
	}
	if r := send(attacker, h.PartnerKey); r.Status != http.StatusTooManyRequests {
		t.Fatalf("a valid key from the limited address: %d %s, want 429 until a token is back", r.Status, r.Raw)
	}
	if n := counter.lookups.Load() - before; n != 0 {
		t.Fatalf("refused requests looked up %d keys, want none", n)
	}
	if r := send(neighbour, h.PartnerKey); r.Status != http.StatusOK {
		t.Fatalf("another address with a valid key: %d %s", r.Status, r.Raw)
	}
	if r := send(neighbour, badKey); r.Status != http.StatusUnauthorized {
		t.Fatalf("another address's first bad key: %d %s, want 401", r.Status, r.Raw)
	}
	clock.Advance(2 * time.Second)
	if r := send(attacker, h.PartnerKey); r.Status != http.StatusOK {
		t.Fatalf("valid key after the refill: %d %s", r.Status, r.Raw)
	}
	for range 5 { // valid keys take nothing from the bucket
		if r := send(attacker, h.PartnerKey); r.Status != http.StatusOK {
			t.Fatalf("valid key: %d %s", r.Status, r.Raw)
		}
	}

	// One IPv6 /64 is one client.
	for i := range 3 {
		send(fmt.Sprintf("[2001:db8:1:2::%x]:4000", i+1), badKey)
	}
	if r := send("[2001:db8:1:2::ff]:4000", badKey); r.Status != http.StatusTooManyRequests {
		t.Fatalf("fourth failure from the same /64: %d, want 429", r.Status)
	}
	if r := send("[2001:db8:1:3::1]:4000", badKey); r.Status != http.StatusUnauthorized {
		t.Fatalf("another /64: %d, want 401", r.Status)
	}
}

// A partner's bucket is shared by every gateway replica: two gateways (two
// HTTP servers) over one Redis, 3×burst concurrent requests spread over
// both and over the partner's two keys, a rate so low that no token comes
// back during the test: exactly burst are accepted, the rest refused 429
// RATE_LIMITED. An operator's bucket is shared the same way.
func TestRateLimitIsSharedByGatewayReplicas(t *testing.T) {
	const burst = 5
	limits := func(c *gateway.Config) {
		c.RateLimits = gateway.RateLimits{PartnerRate: 0.001, PartnerBurst: burst, OperatorRate: 0.001, OperatorBurst: burst}
	}
	h := newHarness(t, limits)
	servers := []*httptest.Server{httptest.NewServer(h.newHandler(limits)), httptest.NewServer(h.newHandler(limits))}
	for _, s := range servers {
		t.Cleanup(s.Close)
	}
	fire := func(keys ...string) (accepted, limited int) {
		t.Helper()
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 3 * burst {
			wg.Go(func() {
				req, err := http.NewRequest(http.MethodPost, servers[i%2].URL+"/graphql", strings.NewReader(`{"query":"{ viewer { role } }"}`))
				if err != nil {
					t.Error(err)
					return
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+keys[i%len(keys)])
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_ = resp.Body.Close()
				mu.Lock()
				defer mu.Unlock()
				switch {
				case resp.StatusCode == http.StatusOK:
					accepted++
				case resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "":
					limited++
				default:
					t.Errorf("request %d: status %d, want 200 or 429 with Retry-After", i, resp.StatusCode)
				}
			})
		}
		wg.Wait()
		return accepted, limited
	}
	if a, l := fire(h.PartnerKey, h.PartnerKey2); a != burst || l != 2*burst {
		t.Errorf("partner over two replicas: %d accepted, %d limited; want %d and %d", a, l, burst, 2*burst)
	}
	if a, l := fire(h.OperatorKey); a != burst || l != 2*burst {
		t.Errorf("operator over two replicas: %d accepted, %d limited; want %d and %d", a, l, burst, 2*burst)
	}
	if r := h.do(h.OtherPartnerKey, `{ viewer { role } }`, nil); r.Status != http.StatusOK {
		t.Errorf("another partner: %d %s, want its own bucket", r.Status, r.Raw)
	}
}

// brokenRates is the gateway's store with its rate limits in a Redis that
// cannot be reached.
type brokenRates struct {
	gateway.Store
	rates *redisstore.Store
}

func (b brokenRates) TakeRateToken(ctx context.Context, bucket string, rate float64, burst int, now time.Time) (bool, time.Duration, error) {
	return b.rates.TakeRateToken(ctx, bucket, rate, burst, now)
}

// When the rate limits cannot be read the request is refused like any
// other Redis outage: 503 UNAVAILABLE with the request id, nothing run.
func TestRateLimitUnreachableIsUnavailable(t *testing.T) {
	h := newHarness(t, nil)
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { _ = down.Close() })
	handler := h.newHandler(func(c *gateway.Config) { c.Store = brokenRates{Store: h.Store, rates: redisstore.New(down)} })
	r := h.doWith(handler, h.PartnerKey, registerQuery("unavailable", `{ response }`), nil)
	if r.Status != http.StatusServiceUnavailable || r.Code() != "UNAVAILABLE" || r.HasData ||
		!strings.Contains(r.Message(), "rate limiting is unavailable right now; try again (request ") {
		t.Fatalf("rate limit store down: %d %s, want 503 UNAVAILABLE", r.Status, r.Raw)
	}
	if n := h.Pub.calls.Load(); n != 0 {
		t.Fatalf("the refused request published %d commands", n)
	}
}
