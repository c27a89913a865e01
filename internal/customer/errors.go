package customer

import (
	"errors"
	"fmt"
	"strings"
)

// Code classifies a failure once, so every edge (GraphQL extensions.code,
// command outcomes on NATS) reports it the same way.
type Code string

// Error codes shared by the gateway and the provisioner.
const (
	CodeInvalid           Code = "BAD_USER_INPUT"
	CodeNotFound          Code = "NOT_FOUND"
	CodeVersionConflict   Code = "VERSION_CONFLICT"
	CodeInvalidTransition Code = "INVALID_TRANSITION"
	CodeConflict          Code = "CONFLICT"
	CodeForbidden         Code = "FORBIDDEN"
	CodeUnauthenticated   Code = "UNAUTHENTICATED"
	CodeUnavailable       Code = "UNAVAILABLE"
	CodeTimeout           Code = "TIMEOUT"
	CodeInternal          Code = "INTERNAL"
)

// Error is a user-facing failure: a code, the input field at fault (if any)
// and a message that says what is expected. It never carries personal data
// or dependency internals.
type Error struct {
	Code    Code   `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, ErrVersionConflict) works for any message.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code && (t.Field == "" || t.Field == e.Field) && t.Message == ""
}

// Sentinel errors for errors.Is; their empty messages match any message.
var (
	ErrInvalid           = &Error{Code: CodeInvalid}
	ErrNotFound          = &Error{Code: CodeNotFound}
	ErrVersionConflict   = &Error{Code: CodeVersionConflict}
	ErrInvalidTransition = &Error{Code: CodeInvalidTransition}
	ErrConflict          = &Error{Code: CodeConflict}
	ErrForbidden         = &Error{Code: CodeForbidden}
	ErrUnavailable       = &Error{Code: CodeUnavailable}
)

// Invalid returns a BAD_USER_INPUT error for field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Errorf returns an error with code and no field.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ValidationErrors collects every field error of one input, so callers can
// fix them all at once.
type ValidationErrors []*Error

func (v ValidationErrors) Error() string {
	msgs := make([]string, len(v))
	for i, e := range v {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap exposes the individual errors to errors.Is and errors.As.
func (v ValidationErrors) Unwrap() []error {
	errs := make([]error, len(v))
	for i, e := range v {
		errs[i] = e
	}
	return errs
}

// Err returns nil when v is empty, so `return errs.Err()` reads naturally.
func (v ValidationErrors) Err() error {
	if len(v) == 0 {
		return nil
	}
	return v
}

// Add appends err when it is not nil. A ValidationErrors is flattened.
func (v *ValidationErrors) Add(err error) {
	if err == nil {
		return
	}
	var many ValidationErrors
	if errors.As(err, &many) {
		*v = append(*v, many...)
		return
	}
	var one *Error
	if errors.As(err, &one) {
		*v = append(*v, one)
		return
	}
	*v = append(*v, &Error{Code: CodeInternal, Message: err.Error()})
}

// ErrorCode returns the code of err, CodeInternal for errors that are not
// ours, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// AsErrors returns the user-facing errors in err: every field error of a
// ValidationErrors, the *Error itself, or one INTERNAL error whose message
// hides the internal text.
func AsErrors(err error) []*Error {
	if err == nil {
		return nil
	}
	var many ValidationErrors
	if errors.As(err, &many) {
		return many
	}
	var one *Error
	if errors.As(err, &one) {
		return []*Error{one}
	}
	return []*Error{{Code: CodeInternal, Message: "internal error"}}
}
