// Package failure holds the one classification of failures every service
// and adapter shares: transient or permanent.
//
// A failure is transient when retrying it later, with backoff, may
// succeed: a timeout, an HTTP 5xx, 429 or 408, a sealed Vault, a refused
// or reset connection, a dependency that is down. Every other failure is
// permanent: retrying the same request cannot help (a refused credential,
// a rejected request, something that does not exist). Adapters decide which
// of their failures are transient and make those errors match ErrTransient
// (through Unwrap or Transient); callers ask IsTransient and nothing else.
package failure

import "errors"

// ErrTransient is matched, with errors.Is, by every transient failure.
var ErrTransient = errors.New("transient failure")

// Transient marks err as transient without changing its message. It
// returns nil for nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return transientError{err}
}

// IsTransient reports whether err is worth retrying with backoff: whether
// it matches ErrTransient. nil is not transient; neither is any error no
// adapter classified as transient.
func IsTransient(err error) bool {
	return errors.Is(err, ErrTransient)
}

// transientError is an error marked transient; its message is the
// error's own.
type transientError struct{ err error }

func (e transientError) Error() string { return e.err.Error() }

// Unwrap exposes the error and ErrTransient to errors.Is and errors.As.
func (e transientError) Unwrap() []error { return []error{e.err, ErrTransient} }

// Kinds are the values of Kind, the label the adapters' error counters
// share.
var Kinds = []string{"transient", "permanent"}

// Kind names err's class for a metric label: "transient" or "permanent".
func Kind(err error) string {
	if IsTransient(err) {
		return Kinds[0]
	}
	return Kinds[1]
}
