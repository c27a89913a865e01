package vault

import (
	"context"
	"errors"
	"net/url"
	"syscall"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/textkit/customers/internal/failure"
)

// TestKindsFollowTheSharedRule: the unavailable kinds (sealed included)
// are transient by failure.IsTransient, the rule every service shares, and
// nothing else is.
func TestKindsFollowTheSharedRule(t *testing.T) {
	respErr := func(status int, msgs ...string) error {
		return &api.ResponseError{HTTPMethod: "PUT", URL: "http://127.0.0.1:8200/v1/transit/encrypt/customer-1", StatusCode: status, Errors: msgs}
	}
	for _, c := range []struct {
		name      string
		err       error
		transient bool
	}{
		{"sealed", respErr(503, "Vault is sealed"), true},
		{"500", respErr(500, "internal error"), true},
		{"429", respErr(429, "rate limit quota exceeded"), true},
		{"refused", &url.Error{Op: "Put", URL: "u", Err: syscall.ECONNREFUSED}, true},
		{"deadline", context.DeadlineExceeded, true},
		{"forbidden", respErr(403, "permission denied"), false},
		{"key missing", respErr(400, "encryption key not found"), false},
		{"invalid", respErr(400, "invalid ciphertext: no prefix"), false},
		{"canceled", &url.Error{Op: "Put", URL: "u", Err: context.Canceled}, false},
		{"undecodable", errors.New("invalid character '<'"), false},
	} {
		err := classify("encrypt", "customer-1", c.err)
		if got := failure.IsTransient(err); got != c.transient {
			t.Errorf("%s: failure.IsTransient(%v) = %v, want %v", c.name, err, got, c.transient)
		}
		if got := errors.Is(err, ErrUnavailable); got != c.transient {
			t.Errorf("%s: errors.Is(%v, ErrUnavailable) = %v, want %v", c.name, err, got, c.transient)
		}
	}
}
