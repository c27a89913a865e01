package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"

	"github.com/hashicorp/vault/api"

	"github.com/textkit/customers/internal/failure"
)

// Sentinel errors, checked with errors.Is. Every error this package returns
// for a failed Vault call is an *Error that matches one of ErrKeyNotFound,
// ErrForbidden, ErrInvalid or ErrUnavailable (ErrSealed errors match
// ErrUnavailable too). ErrUnavailable errors are the transient ones: they
// also match failure.ErrTransient. Two cases match none and are not
// transient: a canceled context (it matches context.Canceled) and an
// answer the client could not decode.
var (
	// ErrKeyNotFound means the customer's key does not exist: it was never
	// created or it has been destroyed. Vault keeps no record of destroyed
	// keys, so the two cannot be told apart here; callers that know the
	// customer was terminated read it as "destroyed". There is deliberately
	// no separate ErrDestroyed. Permanent.
	ErrKeyNotFound = errors.New("key not found")

	// ErrForbidden means Vault refused the token (HTTP 401/403): the policy
	// does not allow the operation, or the token expired or was revoked.
	// Permanent: retrying with the same token cannot succeed.
	ErrForbidden = errors.New("permission denied")

	// ErrInvalid means Vault rejected the request itself (HTTP 400 and other
	// 4xx, or a missing mount): a bad ciphertext, a misconfiguration.
	// Permanent.
	ErrInvalid = errors.New("request rejected")

	// ErrUnavailable means Vault could not be reached or could not answer
	// now: connection errors, timeouts, HTTP 5xx, 429 and 412. Transient.
	ErrUnavailable = errors.New("vault unavailable")

	// ErrSealed means Vault is sealed (HTTP 503). It also matches
	// ErrUnavailable. Transient: an operator or auto-unseal brings it back.
	ErrSealed = errors.New("vault sealed")
)

// IsTransient reports whether err is worth retrying with backoff: Vault was
// unreachable, timed out, sealed or answered 5xx/429/412. Permission,
// not-found and bad-request failures are permanent, and so is a canceled
// context (classify gives it no kind). It is failure.IsTransient: one rule
// for every adapter.
func IsTransient(err error) bool { return failure.IsTransient(err) }

// Error is a failed Vault call. Its message carries the operation, the key
// name, the HTTP status and Vault's reason with anything that looks like
// key material, ciphertext or base64 data removed; never the request body.
type Error struct {
	// Op is what was attempted, e.g. "encrypt" or "destroy key".
	Op string
	// Key is the transit key name, "" for calls that are not about one key.
	Key string
	// Status is the HTTP status Vault answered, 0 if there was no answer.
	Status int
	// Reason is Vault's explanation, redacted.
	Reason string

	kind  error
	cause error
}

// Error formats e as one line: "vault <op> <key>: <kind> (<status>: <reason>)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("vault ")
	b.WriteString(e.Op)
	if e.Key != "" {
		b.WriteString(" ")
		b.WriteString(e.Key)
	}
	b.WriteString(": ")
	if e.kind != nil {
		b.WriteString(e.kind.Error())
	} else {
		b.WriteString("failed")
	}
	switch {
	case e.Status != 0 && e.Reason != "":
		fmt.Fprintf(&b, " (%d: %s)", e.Status, e.Reason)
	case e.Status != 0:
		fmt.Fprintf(&b, " (%d)", e.Status)
	case e.Reason != "":
		fmt.Fprintf(&b, " (%s)", e.Reason)
	}
	return b.String()
}

// Unwrap exposes the classification and the transport cause to errors.Is
// and errors.As. A sealed Vault matches both ErrSealed and ErrUnavailable;
// an unavailable one (sealed included) also matches failure.ErrTransient.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.kind != nil {
		errs = append(errs, e.kind)
		if e.kind == ErrSealed {
			errs = append(errs, ErrUnavailable)
		}
		if e.kind == ErrSealed || e.kind == ErrUnavailable {
			errs = append(errs, failure.ErrTransient)
		}
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// classify turns an error from the Vault client into an *Error. The cause
// is kept for errors.Is/As only when it cannot carry request data: a
// *api.ResponseError holds Vault's raw messages, so it is dropped after
// its status and redacted reason are copied.
//
// Every error classified is counted (textkit_vault_errors_total).
func classify(op, key string, err error) error {
	if err == nil {
		return nil
	}
	e := classifyError(op, key, err)
	if !errors.Is(err, context.Canceled) { // our own shutdown, not Vault's failure
		countError(e)
	}
	return e
}

func classifyError(op, key string, err error) *Error {
	e := &Error{Op: op, Key: key}
	var re *api.ResponseError
	switch {
	case errors.As(err, &re) && re.RawError:
		// Not Vault's JSON error body: something between us and Vault
		// (a proxy, a load balancer) answered. Its 404 says nothing
		// about a key, so only the transient statuses keep their kind.
		e.Status = re.StatusCode
		e.Reason = "answer is not from vault: " + http.StatusText(re.StatusCode)
		switch k := kindForStatus(re.StatusCode, nil); k {
		case ErrUnavailable, ErrForbidden:
			e.kind = k
		default:
			e.kind = ErrInvalid
		}
	case errors.As(err, &re):
		e.Status = re.StatusCode
		e.Reason = reason(re.Errors)
		e.kind = kindForStatus(re.StatusCode, re.Errors)
	case errors.Is(err, context.Canceled):
		e.Reason = "context canceled"
		e.cause = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		e.Reason = "timeout"
		e.kind = ErrUnavailable
		e.cause = context.DeadlineExceeded
	case isTransport(err):
		e.Reason = transportReason(err)
		e.kind = ErrUnavailable
	default:
		// Something the client could not decode, for instance a proxy's
		// HTML error page. Not retryable by assumption.
		e.Reason = redact(err.Error())
	}
	return e
}

// kindForStatus maps an HTTP status (and, for ambiguous ones, Vault's
// messages) to a sentinel.
func kindForStatus(status int, msgs []string) error {
	joined := strings.ToLower(strings.Join(msgs, "; "))
	switch {
	case status == http.StatusServiceUnavailable && strings.Contains(joined, "sealed"):
		return ErrSealed
	case status >= 500, status == http.StatusTooManyRequests, status == http.StatusPreconditionFailed:
		return ErrUnavailable
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return ErrForbidden
	case status == http.StatusNotFound && strings.Contains(joined, "no handler for route"):
		// The mount itself is missing: a misconfiguration, and certainly
		// not proof that a key is gone (DestroyKey relies on this).
		return ErrInvalid
	case status == http.StatusNotFound, keyMissing(joined):
		return ErrKeyNotFound
	default:
		return ErrInvalid
	}
}

// keyMissing recognises the messages transit answers (with HTTP 400) when
// the named key does not exist.
func keyMissing(msg string) bool {
	for _, s := range []string{
		"encryption key not found",        // encrypt, decrypt
		"could not delete key; not found", // delete
		"no existing key named",           // keys/<name>/config
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// isTransport reports whether err happened below HTTP: refused or reset
// connections, DNS, TLS handshakes, a server that hung up mid-answer.
func isTransport(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// transportReason names the transport failure without the URL (which is
// harmless, but long) where a short name exists.
func transportReason(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return redact(err.Error())
}

var (
	// Transit ciphertext ("vault:v1:...") and long base64 runs (plaintext
	// as sent to Vault, key material). Vault does not echo request data in
	// its errors today; this is the second line of defence. Paths and
	// customer ids (UUIDs, dashed every 12 characters at most) survive.
	ciphertextRE = regexp.MustCompile(`vault:v\d+:[A-Za-z0-9+/=]*`)
	base64RE     = regexp.MustCompile(`[A-Za-z0-9+/]{40,}={0,2}`)
)

// multiErrorRE matches the header hashicorp/go-multierror puts in front of
// Vault's messages ("1 error occurred:").
var multiErrorRE = regexp.MustCompile(`\d+ errors? occurred:`)

// reason condenses Vault's error messages into one redacted line.
func reason(msgs []string) string {
	var parts []string
	for _, m := range msgs {
		m = multiErrorRE.ReplaceAllString(m, "")
		for _, line := range strings.Split(m, "\n") {
			line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "* "))
			if line != "" {
				parts = append(parts, line)
			}
		}
	}
	return redact(strings.Join(parts, "; "))
}

// redact removes anything from a message that could be ciphertext or
// encoded plaintext, so errors can be logged and put into events.
func redact(s string) string {
	s = ciphertextRE.ReplaceAllString(s, "[redacted]")
	s = base64RE.ReplaceAllString(s, "[redacted]")
	return strings.TrimSpace(s)
}
