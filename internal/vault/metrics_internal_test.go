package vault

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Every failed call is counted by kind, except our own cancellation.
func TestFailedCallsAreCounted(t *testing.T) {
	transient := testutil.ToFloat64(callErrors.WithLabelValues("transient"))
	permanent := testutil.ToFloat64(callErrors.WithLabelValues("permanent"))
	_ = classify("encrypt", "k", fmt.Errorf("call: %w", context.DeadlineExceeded))
	_ = classify("encrypt", "k", errors.New("<html>bad gateway</html>"))
	_ = classify("encrypt", "k", context.Canceled)
	if got := testutil.ToFloat64(callErrors.WithLabelValues("transient")) - transient; got != 1 {
		t.Errorf("transient errors counted: %v, want 1", got)
	}
	if got := testutil.ToFloat64(callErrors.WithLabelValues("permanent")) - permanent; got != 1 {
		t.Errorf("permanent errors counted: %v, want 1", got)
	}
}
