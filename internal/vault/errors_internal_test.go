package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/vault/api"
)

func TestClassify(t *testing.T) {
	respErr := func(status int, msgs ...string) error {
		return &api.ResponseError{HTTPMethod: "PUT", URL: "http://127.0.0.1:8200/v1/transit/encrypt/customer-1", StatusCode: status, Errors: msgs}
	}
	rawErr := func(status int, body string) error {
		return &api.ResponseError{HTTPMethod: "GET", URL: "http://127.0.0.1:8200/v1/transit/keys/customer-1", StatusCode: status, RawError: true, Errors: []string{body}}
	}
	refused := &url.Error{Op: "Put", URL: "http://127.0.0.1:1/v1/transit/encrypt/customer-1",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	for _, c := range []struct {
		name      string
		err       error
		want      error
		transient bool
	}{
		{"key missing on encrypt", respErr(400, "encryption key not found"), ErrKeyNotFound, false},
		{"key missing on delete", respErr(400, "error deleting policy customer-1: could not delete key; not found"), ErrKeyNotFound, false},
		{"key missing on config", respErr(400, "no existing key named customer-1 could be found"), ErrKeyNotFound, false},
		{"404", respErr(404), ErrKeyNotFound, false},
		{"mount missing", respErr(404, "no handler for route \"transit/keys/customer-1\". route entry not found."), ErrInvalid, false},
		{"bad ciphertext", respErr(400, "invalid ciphertext: no prefix"), ErrInvalid, false},
		{"404 page not from vault", rawErr(404, "<html><body>404 Not Found</body></html>"), ErrInvalid, false},
		{"502 page not from vault", rawErr(502, "<html>Bad Gateway</html>"), ErrUnavailable, true},
		{"403 page not from vault", rawErr(403, "<html>Forbidden</html>"), ErrForbidden, false},
		{"permission denied", respErr(403, "1 error occurred:\n\t* permission denied\n\n"), ErrForbidden, false},
		{"unauthorized", respErr(401), ErrForbidden, false},
		{"sealed", respErr(503, "Vault is sealed"), ErrSealed, true},
		{"sealed is unavailable", respErr(503, "Vault is sealed"), ErrUnavailable, true},
		{"503 standby", respErr(503, "node not active"), ErrUnavailable, true},
		{"500", respErr(500, "internal error"), ErrUnavailable, true},
		{"502", respErr(502), ErrUnavailable, true},
		{"429 rate limit", respErr(429, "request path \"transit/encrypt\": rate limit quota exceeded"), ErrUnavailable, true},
		{"412 consistency", respErr(412, "required index state not present"), ErrUnavailable, true},
		{"connection refused", refused, ErrUnavailable, true},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), ErrUnavailable, true},
		{"server hung up", &url.Error{Op: "Put", URL: "u", Err: io.EOF}, ErrUnavailable, true},
		{"deadline", fmt.Errorf("put: %w", context.DeadlineExceeded), ErrUnavailable, true},
		{"deadline in url error", &url.Error{Op: "Put", URL: "u", Err: context.DeadlineExceeded}, context.DeadlineExceeded, true},
		{"canceled", &url.Error{Op: "Put", URL: "u", Err: context.Canceled}, context.Canceled, false},
		{"unknown", errors.New("invalid character '<' looking for beginning of value"), nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := classify("encrypt", "customer-1", c.err)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("classify = %T, want *Error", err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("classify = %v, want errors.Is %v", err, c.want)
			}
			if got := IsTransient(err); got != c.transient {
				t.Errorf("IsTransient(%v) = %v, want %v", err, got, c.transient)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines", err)
			}
		})
	}
	if classify("encrypt", "k", nil) != nil {
		t.Error("classify(nil) != nil")
	}
	if IsTransient(nil) {
		t.Error("IsTransient(nil) = true")
	}
}

func TestErrorMessage(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"vault reason", classify("decrypt", "customer-1", &api.ResponseError{StatusCode: 400, Errors: []string{"encryption key not found"}}),
			"vault decrypt customer-1: key not found (400: encryption key not found)"},
		{"multierror header dropped", classify("encrypt", "customer-1", &api.ResponseError{StatusCode: 403, Errors: []string{"1 error occurred:\n\t* permission denied\n\n"}}),
			"vault encrypt customer-1: permission denied (403: permission denied)"},
		{"no key", classify("health", "", &url.Error{Op: "Get", URL: "u", Err: syscall.ECONNREFUSED}),
			"vault health: vault unavailable (connection refused)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.err.Error(); got != c.want {
				t.Errorf("Error() = %q, want %q", got, c.want)
			}
		})
	}
}

// TestErrorsNeverCarryData feeds messages that contain ciphertext and
// base64 plaintext (Vault does not send such messages today) and checks
// they are removed, and that the raw ResponseError is not reachable.
func TestErrorsNeverCarryData(t *testing.T) {
	ct := "vault:v1:8SDd3WHDOjf7mq69CyCqYjBXAiQQAVZRkFM13ok481zoCmHnSeDX9vyf7w=="
	plain := "eyJwaG9uZU51bWJlciI6IisxNDE2NTU1MTIxMiIsImFkZHJlc3NMaW5lMSI6IjEgWW9uZ2UgU3QifQ=="
	err := classify("decrypt", "customer-1", &api.ResponseError{
		URL:        "http://127.0.0.1:8200/v1/transit/decrypt/customer-1",
		StatusCode: 400,
		Errors:     []string{"invalid ciphertext " + ct, "bad plaintext " + plain},
	})
	msg := err.Error()
	for _, secret := range []string{ct, ct[9:], plain} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q contains %q", msg, secret)
		}
	}
	var re *api.ResponseError
	if errors.As(err, &re) {
		t.Error("the raw *api.ResponseError is reachable through errors.As")
	}
	if !strings.Contains(msg, "customer-1") {
		t.Errorf("error %q lost the key name", msg)
	}
}
