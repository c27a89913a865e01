package keywait_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/keywait"
)

var quick = keywait.Policy{Limit: time.Minute, First: time.Millisecond, Ceiling: 4 * time.Millisecond}

func TestUntilReady(t *testing.T) {
	calls := 0
	err := keywait.Until(context.Background(), quick, func(context.Context) (bool, error) {
		calls++
		return calls == 4, nil
	})
	if err != nil || calls != 4 {
		t.Fatalf("Until = %v after %d checks, want nil after 4", err, calls)
	}
}

func TestUntilCheckError(t *testing.T) {
	boom := errors.New("boom")
	calls := 0
	err := keywait.Until(context.Background(), quick, func(context.Context) (bool, error) {
		calls++
		return false, boom
	})
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("Until = %v after %d checks, want boom after 1", err, calls)
	}
}

func TestUntilLimit(t *testing.T) {
	p := quick
	p.Limit = 20 * time.Millisecond
	calls := 0
	err := keywait.Until(context.Background(), p, func(context.Context) (bool, error) {
		calls++
		return false, nil
	})
	if customer.ErrorCode(err) != customer.CodeUnavailable || calls < 2 {
		t.Fatalf("Until = %v after %d checks, want UNAVAILABLE after several", err, calls)
	}
}

func TestUntilContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	err := keywait.Until(ctx, quick, func(context.Context) (bool, error) {
		cancel()
		return false, nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Until = %v, want context.Canceled", err)
	}
}
