package retention

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/failure"
	"github.com/textkit/customers/internal/natsbus"
)

// ConsumerName is the durable consumer all retention replicas share on the
// event stream.
const ConsumerName = "retention"

// ConsumerConfig returns the durable consumer of the customer events
// retention acts on: registrations and terminations (not the other
// changes, which would cost a delivery and an acknowledgement each for
// nothing, nor the key events retention publishes itself), and every event
// stored before event subjects carried their type.
func ConsumerConfig(ackWait time.Duration) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:     ConsumerName,
		Description: "retention: creates and destroys customer keys",
		FilterSubjects: []string{
			command.EventFilter(command.Registered), command.EventFilter(command.Terminated),
			command.LegacyEventFilter,
		},
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// RunConfig says how the service consumes events.
type RunConfig struct {
	// Conn is the connection the consumer uses. Stopping drains it, so it
	// must not be the publisher's connection.
	Conn *nats.Conn
	// AckWait is how long JetStream waits for a sign of life from a
	// delivery before it redelivers the event (after a crash, how long
	// the event in flight waits for the restarted service). An event being
	// handled is kept by heartbeats, up to MaxHandle. Default
	// natsbus.DefaultAckWait (4s).
	AckWait time.Duration
	// MaxHandle bounds how long one event may be handled before it is
	// redelivered. Default 60s.
	MaxHandle time.Duration
	// Redelivery is the backoff between redeliveries after a transient
	// failure. Default 500ms doubling to 30s.
	Redelivery natsbus.Backoff
	// CloseTimeout bounds how long shutdown waits for in-flight events.
	// Default 20s.
	CloseTimeout time.Duration
	// Running, if set, is closed once the consumer runs.
	Running chan<- struct{}
}

// Run sweeps due keys (at once, then every Config.SweepInterval, sooner
// with backoff after a failure) and handles customer events until ctx is
// cancelled. It creates the durable consumer idempotently, waiting for the
// event stream if the provisioner has not created it yet. Any number of
// replicas may run at once.
func (s *Service) Run(ctx context.Context, rc RunConfig) error {
	if rc.Conn == nil {
		return errors.New("retention: RunConfig.Conn is required")
	}
	if rc.AckWait == 0 {
		rc.AckWait = natsbus.DefaultAckWait
	}
	if rc.MaxHandle == 0 {
		rc.MaxHandle = 60 * time.Second
	}
	if rc.Redelivery == (natsbus.Backoff{}) {
		rc.Redelivery = natsbus.Backoff{Base: 500 * time.Millisecond, Max: 30 * time.Second}
	}
	if rc.CloseTimeout == 0 {
		rc.CloseTimeout = 20 * time.Second
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.sweepLoop(gctx) })
	g.Go(func() error { return s.consume(gctx, rc) })
	err := g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// sweepLoop sweeps until ctx ends.
func (s *Service) sweepLoop(ctx context.Context) error {
	backoff := natsbus.Backoff{Base: time.Second, Max: s.cfg.SweepInterval}
	failures := uint64(0)
	for {
		res, err := s.Sweep(ctx)
		wait := s.cfg.SweepInterval
		switch {
		case ctx.Err() != nil:
			return nil
		case failure.IsTransient(err):
			failures++
			wait = min(backoff.WaitTime(failures), s.cfg.SweepInterval)
			s.cfg.Logger.Warn("sweep failed; retrying", "error", err.Error(), "retry_in", wait.String(), "destroyed", res.Destroyed)
		case err != nil:
			failures = 0
			s.cfg.Logger.Error("sweep postponed destructions", "error", err.Error(), "failed", res.Failed, "destroyed", res.Destroyed)
		default:
			failures = 0
			if res.Destroyed > 0 {
				s.cfg.Logger.Info("sweep done", "destroyed", res.Destroyed)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// consume handles the durable consumer's events.
func (s *Service) consume(ctx context.Context, rc RunConfig) error {
	js, err := jetstream.New(rc.Conn)
	if err != nil {
		return err
	}
	if err := s.ensureConsumer(ctx, js, rc.AckWait); err != nil {
		return err
	}
	return natsbus.Run(ctx, natsbus.RouterConfig{
		Conn: rc.Conn, Logger: s.cfg.Logger, AckWait: rc.AckWait, MaxHandle: rc.MaxHandle, Redelivery: rc.Redelivery, CloseTimeout: rc.CloseTimeout,
		Retry:   natsbus.Retry{MaxRetries: 2, InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second},
		Running: rc.Running,
	}, []natsbus.Handler{{Stream: natsbus.EventStream, Consumer: ConsumerName, Handle: s.handleMessage, LaneKey: command.EventLane}})
}

// ensureConsumer creates or updates the durable consumer, waiting with
// backoff while the event stream does not exist yet.
func (s *Service) ensureConsumer(ctx context.Context, js jetstream.JetStream, ackWait time.Duration) error {
	backoff := natsbus.Backoff{Base: 250 * time.Millisecond, Max: 5 * time.Second}
	for attempt := uint64(1); ; attempt++ {
		_, err := js.CreateOrUpdateConsumer(ctx, natsbus.EventStream, ConsumerConfig(ackWait))
		if errors.Is(err, jetstream.ErrConsumerMultipleFilterSubjectsNotSupported) {
			// nats-server 2.15 answers the update of a consumer that had
			// one filter (retention before event subjects carried their
			// type) with the old filter, though it applied the new ones:
			// ask for the consumer as it is now.
			err = checkFilters(ctx, js)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("create consumer %s: %w", ConsumerName, err)
		}
		if attempt == 1 || attempt%20 == 0 {
			s.cfg.Logger.Warn("event stream not there yet (the provisioner creates it); waiting", "error", err.Error())
		}
		t := time.NewTimer(backoff.WaitTime(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// checkFilters reports whether the durable consumer has the filters of
// ConsumerConfig.
func checkFilters(ctx context.Context, js jetstream.JetStream) error {
	c, err := js.Consumer(ctx, natsbus.EventStream, ConsumerName)
	if err != nil {
		return err
	}
	want := ConsumerConfig(0).FilterSubjects
	if got := c.CachedInfo().Config.FilterSubjects; !slices.Equal(got, want) {
		return fmt.Errorf("consumer %s filters %q, want %q", ConsumerName, got, want)
	}
	return nil
}
