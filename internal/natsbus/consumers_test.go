package natsbus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/natsbus/natstest"
	"github.com/textkit/customers/internal/testenv"
)

// consumerRig is a server with the streams and partition consumers, and a
// command of a fresh customer waiting in its partition.
type consumerRig struct {
	srv      connector
	js       jetstream.JetStream
	part     int
	subject  string
	id       string
	body     []byte
	sequence uint64
}

// connector is a single server (natstest.Server) or a cluster
// (natstest.Cluster): what connects as one of the users.
type connector interface {
	Connect(t testing.TB, user string, opts ...nats.Option) *nats.Conn
}

func newConsumerRig(t *testing.T) *consumerRig {
	t.Helper()
	srv, js := setup(t)
	return newConsumerRigOn(t, srv, js)
}

// newConsumerRigOn is newConsumerRig on srv, whose streams and partition
// consumers js has created.
func newConsumerRigOn(t *testing.T, srv connector, js jetstream.JetStream) *consumerRig {
	t.Helper()
	pjs, err := jetstream.New(srv.Connect(t, natstest.SeedPartnerUser))
	if err != nil {
		t.Fatal(err)
	}
	customer := uuid.NewString()
	r := &consumerRig{srv: srv, js: js, part: natsbus.PartitionOf(customer), id: uuid.NewString(), body: []byte(`{"any":"body"}`)}
	r.subject = command.PartitionSubject(r.part, partnerA, customer)
	ack, err := pjs.Publish(context.Background(), command.CommandSubject(partnerA, customer), r.body, jetstream.WithMsgID(r.id))
	if err != nil {
		t.Fatal(err)
	}
	r.sequence = ack.Sequence
	return r
}

// config is a router config on a connection of the provisioner's, with
// quick retries.
func (r *consumerRig) config(t *testing.T) natsbus.RouterConfig {
	return natsbus.RouterConfig{
		Conn: r.srv.Connect(t, "provisioner"), AckWait: 30 * time.Second,
		Redelivery:   natsbus.Backoff{Base: 20 * time.Millisecond, Max: 100 * time.Millisecond},
		Retry:        natsbus.Retry{MaxRetries: 1, InitialInterval: 10 * time.Millisecond, MaxInterval: 10 * time.Millisecond},
		CloseTimeout: 5 * time.Second,
	}
}

// run runs natsbus.Run over the rig's partition consumer until the
// returned stop is called; stop returns Run's error.
func (r *consumerRig) run(t *testing.T, rc natsbus.RouterConfig, handle func(context.Context, natsbus.Message) error) (stop func() error) {
	t.Helper()
	return r.runHandler(t, rc, natsbus.Handler{Handle: handle})
}

// runHandler is run with h's lanes (its stream and consumer are the rig's).
func (r *consumerRig) runHandler(t *testing.T, rc natsbus.RouterConfig, h natsbus.Handler) (stop func() error) {
	t.Helper()
	h.Stream, h.Consumer = natsbus.CommandStream, natsbus.PartitionConsumerName(r.part)
	ctx, cancel := context.WithCancel(context.Background())
	running := make(chan struct{})
	rc.Running = running
	done := make(chan error, 1)
	go func() {
		done <- natsbus.Run(ctx, rc, []natsbus.Handler{h})
	}()
	select {
	case <-running:
	case err := <-done:
		cancel()
		t.Fatalf("Run stopped at start: %v", err)
	case <-time.After(15 * time.Second):
		cancel()
		t.Fatal("Run did not signal Running")
	}
	stopped := false
	var err error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case err = <-done:
			case <-time.After(15 * time.Second):
				t.Fatal("Run did not stop")
			}
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// waitAcked waits until the command stream (a work queue) no longer holds
// the rig's command.
func (r *consumerRig) waitAcked(t *testing.T) {
	t.Helper()
	stream, err := r.js.Stream(context.Background(), natsbus.CommandStream)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		info, err := stream.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != 0 {
			return fmt.Errorf("the command stream still holds %d messages: not acknowledged", info.State.Msgs)
		}
		return nil
	})
}

func (r *consumerRig) check(t *testing.T, m natsbus.Message) {
	t.Helper()
	if m.Subject != r.subject || m.MsgID != r.id || m.StreamSeq != r.sequence || string(m.Data) != string(r.body) {
		t.Fatalf("handler got %+v (data %q); want subject %s, id %s, sequence %d, data %q", m, m.Data, r.subject, r.id, r.sequence, r.body)
	}
}

// A handler gets the message's subject, id, stream sequence and body, and
// the message is acknowledged once it returns nil.
func TestRunDecodesAndAcknowledges(t *testing.T) {
	r := newConsumerRig(t)
	got := make(chan natsbus.Message, 4)
	stop := r.run(t, r.config(t), func(_ context.Context, m natsbus.Message) error {
		got <- m
		return nil
	})
	select {
	case m := <-got:
		r.check(t, m)
	case <-time.After(10 * time.Second):
		t.Fatal("the handler got nothing")
	}
	r.waitAcked(t)
	if err := stop(); err != nil {
		t.Fatalf("Run after a graceful stop: %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("the message was handled again: %+v", <-got)
	}
}

// A failing handler is retried in place (Retry), then the message is
// redelivered; a panic counts as a failure. The message is acknowledged
// only once the handler succeeds.
func TestRunRetriesThenRedelivers(t *testing.T) {
	r := newConsumerRig(t)
	var calls atomic.Int32
	succeeded := make(chan natsbus.Message, 1)
	r.run(t, r.config(t), func(_ context.Context, m natsbus.Message) error {
		switch calls.Add(1) {
		case 1:
			panic("the first attempt panics")
		case 2:
			return errors.New("the retry in place fails")
		}
		succeeded <- m
		return nil
	})
	select {
	case m := <-succeeded:
		r.check(t, m)
	case <-time.After(10 * time.Second):
		t.Fatalf("no successful attempt after %d calls", calls.Load())
	}
	r.waitAcked(t)
	if n := calls.Load(); n != 3 {
		t.Fatalf("the handler was called %d times; want a panic, one retry in place, one redelivery", n)
	}
}

// Stopping while a message is handled lets it finish with a context that
// is not cancelled, and acknowledges it.
func TestRunStopFinishesTheMessageInFlight(t *testing.T) {
	r := newConsumerRig(t)
	started := make(chan struct{})
	release := make(chan struct{})
	ctxErr := make(chan error, 1)
	stop := r.run(t, r.config(t), func(ctx context.Context, _ natsbus.Message) error {
		close(started)
		<-release
		ctxErr <- ctx.Err()
		return nil
	})
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler got nothing")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// The stop has begun (the router's context is cancelled) before the
	// handler is let go: give it a moment to get there.
	time.Sleep(200 * time.Millisecond)
	close(release)
	if err := <-ctxErr; err != nil {
		t.Fatalf("the handler's context ended during a graceful stop: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Run: %v", err)
	}
	r.waitAcked(t)
}

// Bad configurations are refused with a clear error before anything runs.
func TestRunRefusesABadConfig(t *testing.T) {
	srv, _ := setup(t)
	good := natsbus.RouterConfig{
		Conn: srv.Connect(t, "provisioner"), AckWait: time.Minute, CloseTimeout: time.Second,
		Redelivery: natsbus.Backoff{Base: time.Millisecond, Max: time.Second},
	}
	handler := natsbus.Handler{Stream: natsbus.CommandStream, Consumer: natsbus.PartitionConsumerName(0), Handle: func(context.Context, natsbus.Message) error { return nil }}
	for _, tc := range []struct {
		name     string
		mutate   func(*natsbus.RouterConfig)
		handlers []natsbus.Handler
		want     string
	}{
		{"no connection", func(c *natsbus.RouterConfig) { c.Conn = nil }, []natsbus.Handler{handler}, "Conn is required"},
		{"no ack wait", func(c *natsbus.RouterConfig) { c.AckWait = 0 }, []natsbus.Handler{handler}, "AckWait"},
		{"no redelivery", func(c *natsbus.RouterConfig) { c.Redelivery = natsbus.Backoff{} }, []natsbus.Handler{handler}, "Redelivery"},
		{"no close timeout", func(c *natsbus.RouterConfig) { c.CloseTimeout = 0 }, []natsbus.Handler{handler}, "CloseTimeout"},
		{"bad retry", func(c *natsbus.RouterConfig) { c.Retry.MaxRetries = -1 }, []natsbus.Handler{handler}, "Retry"},
		{"no handlers", func(*natsbus.RouterConfig) {}, nil, "no handlers"},
		{"no handle func", func(*natsbus.RouterConfig) {}, []natsbus.Handler{{Stream: handler.Stream, Consumer: handler.Consumer}}, "needs"},
		{"twice", func(*natsbus.RouterConfig) {}, []natsbus.Handler{handler, handler}, "handled twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := good
			tc.mutate(&rc)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := natsbus.Run(ctx, rc, tc.handlers)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run: %v; want an error about %q", err, tc.want)
			}
		})
	}
}
