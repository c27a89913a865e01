package provisioner

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/natsbus"
)

// RunConfig says how the provisioner consumes commands.
type RunConfig struct {
	// Conn is the connection the consumers use. Stopping drains it, so it
	// must not be the publisher's connection.
	Conn *nats.Conn
	// AckWait is how long JetStream waits for a sign of life from a
	// delivery before it redelivers the command: after a crash, the
	// commands in flight (and so their customers) wait this long, and the
	// partition waits twice this long for another replica to take it
	// over (the consumers' PinnedTTL). A command being handled, or queued
	// behind its customer's previous one, is kept by heartbeats, up to
	// MaxHandle in a handler. Default natsbus.DefaultAckWait (4s).
	AckWait time.Duration
	// MaxHandle bounds how long one command may be handled before it is
	// redelivered; it must exceed KeyWait plus Twilio's retry budget.
	// Default 90s.
	MaxHandle time.Duration
	// Redelivery is the backoff between redeliveries after a transient
	// failure. Default 500ms doubling to 30s.
	Redelivery natsbus.Backoff
	// Limits are the stream limits the provisioner creates streams with.
	Limits natsbus.StreamLimits
	// CloseTimeout bounds how long shutdown waits for in-flight commands.
	// Default 20s.
	CloseTimeout time.Duration
	// Running, if set, is closed once the consumers run.
	Running chan<- struct{}
	// Outbox configures the relay of events left undelivered.
	Outbox OutboxConfig
}

// Run creates the streams and partition consumers (idempotently) and
// handles commands until ctx is cancelled. Any number of provisioners may
// run at once: one reads each partition at a time (the pinned client),
// with many customers' commands in flight, one at a time per customer.
func (p *Provisioner) Run(ctx context.Context, rc RunConfig) error {
	if rc.AckWait == 0 {
		rc.AckWait = natsbus.DefaultAckWait
	}
	if rc.MaxHandle == 0 {
		rc.MaxHandle = 90 * time.Second
	}
	if rc.Redelivery == (natsbus.Backoff{}) {
		// At most 2 s between the handlings of a failing command: after a
		// dependency outage of any length its partition applies again
		// within 2 s of the dependency being back (issue 9's bound is 5 s;
		// a 30 s ceiling held a customer 6.3 s after a 10 s NATS cut).
		// Twilio's Retry-After is honoured on its own.
		rc.Redelivery = natsbus.Backoff{Base: 500 * time.Millisecond, Max: 2 * time.Second}
	}
	if rc.CloseTimeout == 0 {
		rc.CloseTimeout = 20 * time.Second
	}
	js, err := jetstream.New(rc.Conn)
	if err != nil {
		return err
	}
	if err := natsbus.EnsureStreams(ctx, js, rc.Limits); err != nil {
		return err
	}
	if err := natsbus.EnsurePartitionConsumers(ctx, js, rc.AckWait); err != nil {
		return err
	}
	handlers := make([]natsbus.Handler, natsbus.Partitions)
	for part := range handlers {
		handlers[part] = natsbus.Handler{
			Stream: natsbus.CommandStream, Consumer: natsbus.PartitionConsumerName(part), Handle: p.handleMessage,
			// One customer's commands one after the other, never ahead of
			// an earlier one another replica still holds.
			LaneKey: natsbus.CustomerLane, LaneSubjects: natsbus.CustomerSubjects,
		}
	}
	// The outbox relay runs as long as the consumers do, and stops with them.
	rctx, stopRelay := context.WithCancel(ctx)
	defer stopRelay()
	go p.relayOutbox(rctx, rc.Outbox)
	return natsbus.Run(ctx, natsbus.RouterConfig{
		Conn: rc.Conn, Logger: p.cfg.Logger, AckWait: rc.AckWait, MaxHandle: rc.MaxHandle, Redelivery: rc.Redelivery, CloseTimeout: rc.CloseTimeout,
		Retry:   natsbus.Retry{MaxRetries: 3, InitialInterval: 100 * time.Millisecond, MaxInterval: 2 * time.Second},
		Running: rc.Running,
	}, handlers)
}
