package vault

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// RetryPolicy bounds Retry. The zero value means the defaults.
type RetryPolicy struct {
	// Attempts is the total number of calls, first included (default 5).
	Attempts int
	// Initial is the wait after the first failure (default 100ms); it
	// doubles after each failure, with ±25% jitter so replicas that failed
	// together do not retry together.
	Initial time.Duration
	// Max caps one wait (default 5s).
	Max time.Duration
}

// withDefaults returns p with zero fields set to their defaults.
func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts == 0 {
		p.Attempts = 5
	}
	if p.Initial == 0 {
		p.Initial = 100 * time.Millisecond
	}
	if p.Max == 0 {
		p.Max = 5 * time.Second
	}
	return p
}

// Validate reports what is wrong with p after defaults are applied.
func (p RetryPolicy) Validate() error {
	p = p.withDefaults()
	var errs []error
	if p.Attempts < 1 {
		errs = append(errs, fmt.Errorf("retry attempts %d must be at least 1", p.Attempts))
	}
	if p.Initial < 0 || p.Max < 0 {
		errs = append(errs, errors.New("retry waits must not be negative"))
	}
	return errors.Join(errs...)
}

// Retry calls fn until it succeeds, fails permanently (IsTransient is
// false), the attempts run out or ctx ends, backing off between attempts.
// It returns fn's last error, or ctx's error if ctx ended while waiting.
// It is for callers without a retry loop of their own (the retention
// scheduler); watermill handlers use the router's Retry middleware instead.
func Retry(ctx context.Context, p RetryPolicy, fn func(ctx context.Context) error) error {
	p = p.withDefaults()
	if err := p.Validate(); err != nil {
		return err
	}
	wait := p.Initial
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || !IsTransient(err) || attempt >= p.Attempts {
			return err
		}
		// Jitter in [0.75, 1.25) of the nominal wait.
		d := time.Duration(float64(wait) * (0.75 + rand.Float64()/2))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-t.C:
		}
		wait = min(wait*2, p.Max)
	}
}
