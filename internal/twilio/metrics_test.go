package twilio

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Every failed call is counted by kind; a success is not.
func TestFailedCallsAreCounted(t *testing.T) {
	transient := testutil.ToFloat64(callErrors.WithLabelValues("transient"))
	permanent := testutil.ToFloat64(callErrors.WithLabelValues("permanent"))
	ctx := context.Background()
	if classify(ctx, "fetch", &exchange{}, nil) != nil {
		t.Fatal("a success classified as an error")
	}
	_ = classify(ctx, "fetch", &exchange{}, errors.New("connection refused"))
	_ = classify(ctx, "fetch", &exchange{status: 404}, errors.New("not found"))
	if got := testutil.ToFloat64(callErrors.WithLabelValues("transient")) - transient; got != 1 {
		t.Errorf("transient errors counted: %v, want 1", got)
	}
	if got := testutil.ToFloat64(callErrors.WithLabelValues("permanent")) - permanent; got != 1 {
		t.Errorf("permanent errors counted: %v, want 1", got)
	}
}
