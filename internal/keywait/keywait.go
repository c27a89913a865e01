// Package keywait waits, bounded, for a newly registered customer's
// encryption key. Retention creates the key when it sees the Registered
// event, so a command that needs the key (an activation, a contact info
// update) may arrive a moment before it exists.
package keywait

import (
	"context"
	"time"

	"github.com/textkit/customers/internal/customer"
)

// Policy bounds one wait.
type Policy struct {
	// Limit is how long to keep checking after the first check.
	Limit time.Duration
	// First is the pause after the first check; each pause doubles while
	// it is below Ceiling, and no pause goes past the limit.
	First, Ceiling time.Duration
}

// Check reports whether the key is ready. An error ends the wait and is
// returned by Until as is.
type Check func(ctx context.Context) (ready bool, err error)

// Until calls check until the key is ready, pausing between calls. It
// returns nil once ready; check's error; ctx's error if ctx ends first; or,
// after p.Limit, an UNAVAILABLE *customer.Error saying the key is not
// ready yet.
func Until(ctx context.Context, p Policy, check Check) error {
	deadline := time.Now().Add(p.Limit)
	wait := p.First
	for {
		ready, err := check(ctx)
		if err != nil {
			return err
		}
		if ready {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return NotReady()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(wait, left)):
		}
		if wait < p.Ceiling {
			wait *= 2
		}
	}
}

// NotReady is the error of a wait that ran out: the client may retry.
func NotReady() *customer.Error {
	return customer.Errorf(customer.CodeUnavailable, "the customer's encryption key is not ready yet; try again shortly")
}
