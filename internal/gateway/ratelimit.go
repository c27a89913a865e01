package gateway

import (
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/textkit/customers/internal/access"
)

// Default rate limits, in requests per second and burst size.
const (
	DefaultPartnerRate   = 20
	DefaultPartnerBurst  = 40
	DefaultOperatorRate  = 100
	DefaultOperatorBurst = 200
)

// RateLimits are token buckets: a partner (all its API keys together, so
// more keys do not buy more requests) gets PartnerRate requests per
// second with bursts of PartnerBurst; each operator key gets its own,
// larger bucket. A request over the limit is answered 429 with
// Retry-After and the code RATE_LIMITED. The buckets live in each gateway
// replica's memory: with N replicas behind a load balancer a partner can
// make up to N times the rate. Zero fields take the defaults.
type RateLimits struct {
	PartnerRate   float64 // requests per second; default 20
	PartnerBurst  int     // default 40
	OperatorRate  float64 // requests per second; default 100
	OperatorBurst int     // default 200
}

func (r *RateLimits) validate() error {
	if r.PartnerRate < 0 || r.PartnerBurst < 0 || r.OperatorRate < 0 || r.OperatorBurst < 0 ||
		math.IsNaN(r.PartnerRate) || math.IsNaN(r.OperatorRate) {
		return fmt.Errorf("gateway: rate limits must be positive (0 for the defaults), got %+v", *r)
	}
	if r.PartnerRate == 0 {
		r.PartnerRate = DefaultPartnerRate
	}
	if r.PartnerBurst == 0 {
		r.PartnerBurst = DefaultPartnerBurst
	}
	if r.OperatorRate == 0 {
		r.OperatorRate = DefaultOperatorRate
	}
	if r.OperatorBurst == 0 {
		r.OperatorBurst = DefaultOperatorBurst
	}
	return nil
}

// limiter holds one token bucket per partner and per operator key.
type limiter struct {
	cfg RateLimits

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// sweepAt is the number of buckets above which full (idle) buckets are
// forgotten: a full bucket is the same as a new one. Only authenticated
// callers get buckets, so their number is bounded by the keys issued.
const sweepAt = 10000

func newLimiter(cfg RateLimits) *limiter {
	return &limiter{cfg: cfg, buckets: map[string]*rate.Limiter{}}
}

// allow takes one token from p's bucket at now; when there is none it
// reports how long to wait.
func (l *limiter) allow(p access.Principal, now time.Time) (ok bool, retryAfter time.Duration) {
	key, r, burst := "partner:"+p.PartnerID, l.cfg.PartnerRate, l.cfg.PartnerBurst
	if p.Operator() || p.PartnerID == "" {
		key, r, burst = "key:"+p.KeyID, l.cfg.OperatorRate, l.cfg.OperatorBurst
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= sweepAt {
			for k, v := range l.buckets {
				if v.TokensAt(now) >= float64(v.Burst()) {
					delete(l.buckets, k)
				}
			}
		}
		b = rate.NewLimiter(rate.Limit(r), burst)
		l.buckets[key] = b
	}
	res := b.ReserveN(now, 1)
	if !res.OK() {
		return false, time.Hour
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// retryAfterSeconds is the Retry-After header value: whole seconds,
// rounded up, at least one.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
