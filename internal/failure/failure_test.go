package failure_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/textkit/customers/internal/failure"
)

func TestTransient(t *testing.T) {
	cause := fmt.Errorf("read: %w", context.DeadlineExceeded)
	err := failure.Transient(cause)
	if !failure.IsTransient(err) {
		t.Errorf("IsTransient(Transient(%v)) = false", cause)
	}
	if err.Error() != cause.Error() {
		t.Errorf("Transient changed the message: %q, want %q", err, cause)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Transient(%v) no longer matches its cause", cause)
	}
	var pe *fs.PathError
	if !errors.As(failure.Transient(&fs.PathError{Op: "open", Path: "x", Err: fs.ErrNotExist}), &pe) || pe.Path != "x" {
		t.Error("errors.As does not reach the marked error")
	}
	if wrapped := fmt.Errorf("destroy key: %w", err); !failure.IsTransient(wrapped) {
		t.Errorf("IsTransient(%v) = false once wrapped", wrapped)
	}
	if failure.Transient(nil) != nil {
		t.Error("Transient(nil) != nil")
	}
}

func TestPermanent(t *testing.T) {
	for _, err := range []error{
		nil,
		errors.New("permission denied"),
		context.DeadlineExceeded, // adapters decide; unclassified is permanent
		fmt.Errorf("create: %w", errors.New("rejected")),
	} {
		if failure.IsTransient(err) {
			t.Errorf("IsTransient(%v) = true, want false", err)
		}
	}
	if !failure.IsTransient(fmt.Errorf("load customer: %w: %w", failure.ErrTransient, errors.New("redis down"))) {
		t.Error("an error wrapping ErrTransient is not transient")
	}
}
