package testenv

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// Polling intervals of Poll: the first retry comes soon, later ones back
// off to maxPollInterval, so a quick condition is seen quickly and a slow
// one costs little.
const (
	firstPollInterval = 10 * time.Millisecond
	maxPollInterval   = 50 * time.Millisecond
)

// Eventually calls cond until it returns nil and fails the test with cond's
// last error if that has not happened within timeout. cond's error says
// what is still missing ("3 events, want 7"); it may call t.Fatal itself
// for a failure no waiting can mend, or return Abort(err) to stop at once.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	if err := Poll(timeout, cond); err != nil {
		t.Fatal(err)
	}
}

// Poll calls cond until it returns nil (Poll returns nil), cond returns an
// error made by Abort (Poll returns the error Abort was given), or timeout
// passes (Poll returns cond's last error, saying after how long). It is
// Eventually for code that reports errors rather than failing a test.
func Poll(timeout time.Duration, cond func() error) error {
	if timeout <= 0 {
		return fmt.Errorf("poll: timeout %v is not positive", timeout)
	}
	deadline := time.Now().Add(timeout)
	interval := firstPollInterval
	for {
		err := cond()
		if err == nil {
			return nil
		}
		var ab *abortError
		if errors.As(err, &ab) {
			return ab.err
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("after %v: %w", timeout, err)
		}
		time.Sleep(min(interval, time.Until(deadline)))
		interval = min(2*interval, maxPollInterval)
	}
}

// Abort wraps err so that Poll and Eventually stop waiting at once (the
// process being waited for has exited, say) and report err. Abort(nil) is
// nil.
func Abort(err error) error {
	if err == nil {
		return nil
	}
	return &abortError{err: err}
}

type abortError struct{ err error }

func (e *abortError) Error() string { return e.err.Error() }
func (e *abortError) Unwrap() error { return e.err }
