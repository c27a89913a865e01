package natsbus

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// A deletion of a message no longer there counts as done, in every form
// nats.go reports it (the deletion's API error is flattened into text).
func TestMsgGone(t *testing.T) {
	deletion := func(apiErr string) error { return fmt.Errorf("%w: %s", jetstream.ErrMsgDeleteUnsuccessful, apiErr) }
	for _, tc := range []struct {
		err  error
		gone bool
	}{
		{deletion("nats: API error: code=400 err_code=10043 description=sequence 1028 not found"), true},
		{deletion("nats: API error: code=500 err_code=10057 description=no message found"), true},
		{jetstream.ErrMsgNotFound, true},
		{&jetstream.APIError{Code: 400, ErrorCode: 10043, Description: "sequence 7 not found"}, true},
		{deletion("nats: API error: code=503 err_code=10008 description=JetStream system temporarily unavailable"), false},
		{deletion("nats: API error: code=400 err_code=100430 description=another"), false},
		{errors.New("context deadline exceeded"), false},
	} {
		if got := msgGone(tc.err); got != tc.gone {
			t.Errorf("msgGone(%v) = %v, want %v", tc.err, got, tc.gone)
		}
	}
}
