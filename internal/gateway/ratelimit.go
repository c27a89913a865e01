package gateway

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
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
	// Requests without a valid API key, per client address.
	DefaultUnauthenticatedRate  = 1
	DefaultUnauthenticatedBurst = 20
)

// RateLimits are token buckets: a partner (all its API keys together, so
// more keys do not buy more requests) gets PartnerRate requests per
// second with bursts of PartnerBurst; each operator key gets its own,
// larger bucket. A request over the limit is answered 429 with
// Retry-After and the code RATE_LIMITED. These buckets live in Redis
// (RateBuckets, one key per partner or operator key, gone once the
// bucket is full again), so every gateway replica takes from the same
// one: N replicas behind a load balancer still give a partner its rate,
// not N times it. When Redis cannot be reached the request is answered
// 503 UNAVAILABLE, as a failed API-key lookup is. Zero fields take the
// defaults.
//
// Requests with a missing, unknown or revoked key are limited per client
// address (an IPv6 address by its /64): after UnauthenticatedBurst of them,
// at UnauthenticatedRate per second, every request from that address is
// refused the same way before its key is looked up, so a flood of bad
// keys cannot load Redis. That bucket stays in each replica's memory on
// purpose: its job is to keep such floods away from Redis, so it must not
// cost a Redis call itself (with N replicas an address gets up to N times
// its failures). Requests with a valid key take nothing from that bucket.
// The address is the connection's peer: behind a proxy that is the proxy.
type RateLimits struct {
	PartnerRate          float64 // requests per second; default 20
	PartnerBurst         int     // default 40
	OperatorRate         float64 // requests per second; default 100
	OperatorBurst        int     // default 200
	UnauthenticatedRate  float64 // failed authentications per second per address; default 1
	UnauthenticatedBurst int     // default 20
}

func (r *RateLimits) validate() error {
	if r.PartnerRate < 0 || r.PartnerBurst < 0 || r.OperatorRate < 0 || r.OperatorBurst < 0 ||
		r.UnauthenticatedRate < 0 || r.UnauthenticatedBurst < 0 ||
		math.IsNaN(r.PartnerRate) || math.IsNaN(r.OperatorRate) || math.IsNaN(r.UnauthenticatedRate) {
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
	if r.UnauthenticatedRate == 0 {
		r.UnauthenticatedRate = DefaultUnauthenticatedRate
	}
	if r.UnauthenticatedBurst == 0 {
		r.UnauthenticatedBurst = DefaultUnauthenticatedBurst
	}
	return nil
}

// RateBuckets keeps the partner and operator token buckets where every
// gateway replica shares them (redisstore.Store: in Redis).
type RateBuckets interface {
	// TakeRateToken takes one request from the bucket named bucket (rate
	// per second, up to burst) at now; when there is none it reports how
	// long to wait.
	TakeRateToken(ctx context.Context, bucket string, rate float64, burst int, now time.Time) (ok bool, retryAfter time.Duration, err error)
}

// allow takes one token from p's shared bucket at now; when there is none
// it reports how long to wait.
func (g *Gateway) allow(ctx context.Context, p access.Principal, now time.Time) (ok bool, retryAfter time.Duration, err error) {
	rl := g.cfg.RateLimits
	if p.Operator() || p.PartnerID == "" {
		return g.cfg.Store.TakeRateToken(ctx, "key:"+p.KeyID, rl.OperatorRate, rl.OperatorBurst, now)
	}
	return g.cfg.Store.TakeRateToken(ctx, "partner:"+p.PartnerID, rl.PartnerRate, rl.PartnerBurst, now)
}

// limiter holds one token bucket per client address that failed to
// authenticate, in this replica's memory.
type limiter struct {
	cfg RateLimits

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// sweepAt is the number of buckets above which full (idle) buckets are
// forgotten: a full bucket is the same as a new one. An address's bucket
// empties only at the rate of its failures, so it is soon full again.
const sweepAt = 10000

func newLimiter(cfg RateLimits) *limiter {
	return &limiter{cfg: cfg, buckets: map[string]*rate.Limiter{}}
}

// allowUnauthenticated reports whether a request from addr may have its
// key looked up: whether addr has a failure left in its bucket, without
// taking it. When not, it reports how long until it has.
func (l *limiter) allowUnauthenticated(addr string, now time.Time) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets["addr:"+addr]
	if b == nil {
		return true, 0
	}
	if t := b.TokensAt(now); t < 1 {
		return false, time.Duration((1 - t) / float64(b.Limit()) * float64(time.Second))
	}
	return true, 0
}

// failedAuthentication takes one token from addr's bucket.
func (l *limiter) failedAuthentication(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bucket("addr:"+addr, l.cfg.UnauthenticatedRate, l.cfg.UnauthenticatedBurst, now).AllowN(now, 1)
}

// bucket returns key's bucket, made with rate r and burst when new; the
// caller holds l.mu.
func (l *limiter) bucket(key string, r float64, burst int, now time.Time) *rate.Limiter {
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
	return b
}

// retryAfterSeconds is the Retry-After header value: whole seconds,
// rounded up, at least one.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// clientAddress is the key of r's unauthenticated bucket: the peer's IP,
// an IPv6 one by its /64 (one host usually holds a whole /64).
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, err := ip.Prefix(64)
		if err == nil {
			return p.String()
		}
	}
	return ip.String()
}
