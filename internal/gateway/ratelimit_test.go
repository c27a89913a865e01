package gateway_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/textkit/customers/internal/gateway"
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
