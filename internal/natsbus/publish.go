package natsbus

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publishAttempt bounds one attempt to store a message in a stream. On a
// cluster a stream's leader can die after it received a message and
// before it acknowledged it, and that acknowledgement never comes: waiting
// for it until the caller's deadline would fail a publish that the new
// leader takes at once.
const publishAttempt = 2 * time.Second

// publishTotal bounds the attempts of a publish whose context has no
// deadline of its own.
const publishTotal = 20 * time.Second

// publishBackoff is the wait between attempts: a leader election takes
// from a few hundred milliseconds to a few seconds.
var publishBackoff = Backoff{Base: 100 * time.Millisecond, Max: time.Second}

// publishOnce stores msg with Nats-Msg-Id id, sending it again (with the
// same id, so JetStream stores it once) while an attempt ends without an
// answer or finds no stream leader to answer (a leader election), until ctx
// ends (publishTotal if ctx has no deadline). A refusal (a limit, a
// permission) is not retried. The error is the last attempt's.
func publishOnce(ctx context.Context, js jetstream.JetStream, msg *nats.Msg, id string) (*jetstream.PubAck, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, publishTotal)
		defer cancel()
	}
	for attempt := uint64(1); ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, publishAttempt)
		ack, err := js.PublishMsg(actx, msg, jetstream.WithMsgID(id))
		cancel()
		if err == nil || !unanswered(err) || ctx.Err() != nil {
			return ack, err
		}
		wait := time.NewTimer(publishBackoff.WaitTime(attempt))
		select {
		case <-ctx.Done():
			wait.Stop()
			return nil, err
		case <-wait.C:
		}
	}
}

// unanswered reports whether a publish got no answer from a stream: no
// acknowledgement in time, no stream leader listening (none elected yet,
// or no stream at all), or the connection was reconnecting (to another
// node of the cluster).
func unanswered(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrDisconnected) ||
		// Connect's connections do not buffer while reconnecting: the
		// message was not sent, and is sent once reconnected.
		errors.Is(err, nats.ErrReconnectBufExceeded)
}
