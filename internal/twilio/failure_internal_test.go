package twilio

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/textkit/customers/internal/failure"
)

// TestKindsFollowTheSharedRule: exactly the ErrTransient kind is transient
// by failure.IsTransient, the rule every service shares, with or without
// an underlying error and when wrapped.
func TestKindsFollowTheSharedRule(t *testing.T) {
	for _, kind := range []error{ErrTransient, ErrNotFound, ErrClosed, ErrUnauthorized, ErrRejected} {
		for _, cause := range []error{nil, context.DeadlineExceeded} {
			err := fmt.Errorf("provisioner: %w", &Error{Op: "fetch sub-account", Kind: kind, Message: "m", Err: cause})
			want := kind == ErrTransient
			if got := failure.IsTransient(err); got != want {
				t.Errorf("failure.IsTransient(%v) = %v, want %v", err, got, want)
			}
			if got := IsTransient(err); got != want {
				t.Errorf("IsTransient(%v) = %v, want %v", err, got, want)
			}
			if !errors.Is(err, kind) {
				t.Errorf("%v no longer matches its kind %v", err, kind)
			}
		}
	}
	for _, status := range []int{408, 429, 500, 503} {
		if k := kindOf(status, 0); !failure.IsTransient(&Error{Op: "create sub-account", Kind: k, Status: status}) {
			t.Errorf("status %d: not transient by the shared rule", status)
		}
	}
}
