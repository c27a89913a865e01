package natsbus

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultAckWait is the services' consumers' AckWait: how long a message
// held by a consumer that died waits before another consumer gets it.
// Handlers that run longer keep their message with heartbeats (inFlight).
const DefaultAckWait = 4 * time.Second

// DefaultMaxHandle is RouterConfig.MaxHandle's default: longer than any
// handler of ours runs (a key wait plus Twilio's retries and a Retry-After).
const DefaultMaxHandle = 2 * time.Minute

// inFlight is the subscriber's unmarshaler and the router's heartbeat
// middleware, which it hands each delivery's JetStream message to.
//
// The unmarshaler accepts any message: commands published by partners
// carry no watermill headers, and a message that cannot be decoded must
// still reach the handler so it is rejected with a reason instead of being
// dropped.
//
// Why heartbeats: a consumer that dies with a message in flight holds it
// until AckWait passes, and with one message in flight per partition that
// stalls the whole partition. A short AckWait makes the stall short, but
// a handler may legitimately run longer (a key wait, Twilio's retries), so
// while it runs the message is marked in progress (jetstream.Msg.InProgress
// resets the server's AckWait timer), up to MaxHandle.
type inFlight struct {
	next atomic.Uint64
	msgs sync.Map // metaDelivery value -> jetstream.Msg
}

// heartbeats is the middleware that marks a message in progress every
// `every` while its handler (with its retries in place) runs, for at most
// maxHandle.
func (f *inFlight) heartbeats(every, maxHandle time.Duration, log *slog.Logger) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(m *message.Message) ([]*message.Message, error) {
			v, ok := f.msgs.LoadAndDelete(m.Metadata.Get(metaDelivery))
			if ok {
				stop := keepInProgress(v.(jetstream.Msg), every, maxHandle, log)
				defer stop()
			}
			return h(m)
		}
	}
}

// keepInProgress marks msg in progress every `every` until stop is called
// or maxHandle has passed; stop returns once the marking has ended.
func keepInProgress(msg jetstream.Msg, every, maxHandle time.Duration, log *slog.Logger) (stop func()) {
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(every)
		defer t.Stop()
		limit := time.NewTimer(maxHandle)
		defer limit.Stop()
		for {
			select {
			case <-done:
				return
			case <-limit.C:
				log.Warn("a message is taking longer than its handler may hold it; JetStream will redeliver it", "subject", msg.Subject(), "max_handle", maxHandle.String())
				return
			case <-t.C:
				if err := msg.InProgress(); err != nil {
					// Disconnected: JetStream redelivers after AckWait,
					// which the handler's idempotency makes safe.
					log.Debug("could not mark a message in progress", "subject", msg.Subject(), "error", err.Error())
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		<-ended
	}
}
