package twilio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	twclient "github.com/twilio/twilio-go/client"

	"github.com/textkit/customers/internal/failure"
)

// Kinds of failure, for errors.Is. Every error the Client returns is an
// *Error of exactly one kind.
var (
	// ErrTransient: retrying later may succeed (429, 408, 5xx, timeouts,
	// network failures, a cancelled context, a garbled response). An
	// error of this kind also matches failure.ErrTransient.
	ErrTransient = errors.New("twilio: transient failure")
	// ErrNotFound: the account does not exist or is not ours (404).
	ErrNotFound = errors.New("twilio: account not found")
	// ErrClosed: the account is closed and can never change again
	// (Twilio error 21479).
	ErrClosed = errors.New("twilio: account is closed")
	// ErrUnauthorized: Twilio refused the credentials (401, 403).
	ErrUnauthorized = errors.New("twilio: credentials refused")
	// ErrRejected: Twilio, or the adapter before sending, refused the
	// request as it is (any other 4xx, an invalid argument).
	ErrRejected = errors.New("twilio: request rejected")
)

// Twilio error codes the adapter acts on.
const (
	codeClosed = 21479 // Unable to update Status for subaccount, subaccount has been closed.
)

// Error is a failed call to Twilio.
type Error struct {
	// Op is what the adapter was doing, e.g. "create sub-account".
	Op string
	// Kind is one of ErrTransient, ErrNotFound, ErrClosed, ErrUnauthorized
	// and ErrRejected.
	Kind error
	// Status is the HTTP status; 0 when no response arrived.
	Status int
	// Code is Twilio's error code (https://www.twilio.com/docs/errors), 0
	// when the response carried none.
	Code int
	// Message is Twilio's message or a description of the failure.
	Message string
	// RetryAfter is the wait Twilio asked for (Retry-After), 0 when none.
	RetryAfter time.Duration
	// Err is the underlying error (network, context, decoding), if any.
	Err error
}

func (e *Error) Error() string {
	msg := "twilio: " + e.Op + ": "
	if e.Status != 0 {
		msg += strconv.Itoa(e.Status) + " "
	}
	if e.Code != 0 {
		msg += "(code " + strconv.Itoa(e.Code) + ") "
	}
	msg += e.Message
	if e.Err != nil && e.Err.Error() != e.Message {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap exposes the kind and the underlying error to errors.Is and As.
// An error of kind ErrTransient also exposes failure.ErrTransient, the
// classification every service shares.
func (e *Error) Unwrap() []error {
	errs := []error{e.Kind}
	if e.Kind == ErrTransient {
		errs = append(errs, failure.ErrTransient)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// IsTransient reports whether err is worth retrying with backoff. It is
// failure.IsTransient: one rule for every adapter.
func IsTransient(err error) bool { return failure.IsTransient(err) }

// classify turns what twilio-go returned for one call into an *Error,
// and counts it (textkit_twilio_errors_total).
func classify(ctx context.Context, op string, ex *exchange, err error) error {
	if err == nil {
		return nil
	}
	e := classifyError(ctx, op, ex, err)
	countError(e)
	return e
}

func classifyError(ctx context.Context, op string, ex *exchange, err error) error {
	e := &Error{Op: op, Status: ex.status, RetryAfter: retryAfter(ex.retryAfter)}
	var rest *twclient.TwilioRestError
	switch {
	case ctx.Err() != nil:
		e.Kind, e.Status, e.Message, e.Err = ErrTransient, 0, "request cut short", ctx.Err()
		return e
	case errors.As(err, &rest):
		if rest.Status != 0 {
			e.Status = rest.Status
		}
		e.Code, e.Message = rest.Code, rest.Message
		if e.Message == "" { // JSON, but not Twilio's (a proxy's problem+json, say)
			e.Message = http.StatusText(e.Status)
		}
	case ex.status >= 400: // an error body that is not Twilio's JSON (a proxy's page, say)
		e.Message, e.Err = http.StatusText(ex.status), err
	case ex.status == 0: // no response: connection refused, reset, timed out
		e.Kind, e.Message, e.Err = ErrTransient, "no response", err
		return e
	default: // a success status whose body did not decode (cut short?)
		e.Kind, e.Message, e.Err = ErrTransient, "unreadable response", err
		return e
	}
	e.Kind = kindOf(e.Status, e.Code)
	return e
}

func kindOf(status, code int) error {
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
		return ErrTransient
	case status == http.StatusNotFound:
		return ErrNotFound
	case code == codeClosed:
		return ErrClosed
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return ErrUnauthorized
	default:
		return ErrRejected
	}
}

// retryAfter reads a Retry-After header given in seconds; dates and
// garbage count as none.
func retryAfter(h string) time.Duration {
	s, err := strconv.Atoi(h)
	if err != nil || s <= 0 {
		return 0
	}
	return time.Duration(s) * time.Second
}

func rejected(op, format string, args ...any) error {
	return &Error{Op: op, Kind: ErrRejected, Message: fmt.Sprintf(format, args...)}
}
