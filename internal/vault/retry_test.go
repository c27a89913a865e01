package vault_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/textkit/customers/internal/vault"
)

func TestRetry(t *testing.T) {
	fast := vault.RetryPolicy{Attempts: 4, Initial: time.Millisecond, Max: 2 * time.Millisecond}
	transient := fmt.Errorf("call: %w", vault.ErrUnavailable)
	permanent := fmt.Errorf("call: %w", vault.ErrForbidden)
	for _, c := range []struct {
		name      string
		results   []error // what fn returns on each call; nil after the end
		wantCalls int
		wantErr   error
	}{
		{"success first", []error{nil}, 1, nil},
		{"transient then success", []error{transient, transient, nil}, 3, nil},
		{"permanent stops at once", []error{permanent, nil}, 1, vault.ErrForbidden},
		{"attempts run out", []error{transient, transient, transient, transient, nil}, 4, vault.ErrUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			err := vault.Retry(context.Background(), fast, func(context.Context) error {
				calls++
				if calls <= len(c.results) {
					return c.results[calls-1]
				}
				return nil
			})
			if calls != c.wantCalls {
				t.Errorf("calls = %d, want %d", calls, c.wantCalls)
			}
			if (c.wantErr == nil) != (err == nil) || (c.wantErr != nil && !errors.Is(err, c.wantErr)) {
				t.Errorf("Retry = %v, want %v", err, c.wantErr)
			}
		})
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := vault.Retry(ctx, vault.RetryPolicy{Attempts: 100, Initial: time.Hour}, func(context.Context) error {
		calls++
		cancel()
		return vault.ErrUnavailable
	})
	if calls != 1 {
		t.Errorf("calls = %d, want 1", calls)
	}
	if !errors.Is(err, context.Canceled) || !errors.Is(err, vault.ErrUnavailable) {
		t.Errorf("Retry = %v, want context.Canceled wrapping the last error", err)
	}
	if vault.IsTransient(err) {
		t.Error("IsTransient(canceled) = true, want false")
	}
}

func TestRetryPolicyValidate(t *testing.T) {
	for _, c := range []struct {
		name  string
		p     vault.RetryPolicy
		valid bool
	}{
		{"zero means defaults", vault.RetryPolicy{}, true},
		{"negative attempts", vault.RetryPolicy{Attempts: -1}, false},
		{"negative wait", vault.RetryPolicy{Initial: -time.Second}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.p.Validate() == nil; got != c.valid {
				t.Errorf("Validate() == nil is %v, want %v", got, c.valid)
			}
		})
	}
}
