package natsbus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/natsbus"
)

// On a cluster, acknowledging a message of a work-queue stream removes it
// through the stream's leader; when that leader has just died the removal
// is lost, and the message stays in the stream, acknowledged, until the
// server's periodic interest check (minutes). Run's order check must not
// wait for it: a message its consumer has acknowledged is not one a later
// message of its lane may wait for. A limits stream (the event stream),
// which keeps every acknowledged message, stands in for that state here:
// each of one subject's messages is left in the stream once handled, and
// the lane must still go on, in order, and remove what it left.
func TestAnAcknowledgedMessageLeftInTheStreamDoesNotHoldItsLane(t *testing.T) {
	srv, js := setup(t)
	ctx := context.Background()
	const consumer = "leftover-test"
	if _, err := js.CreateOrUpdateConsumer(ctx, natsbus.EventStream, jetstream.ConsumerConfig{
		Durable: consumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxDeliver: -1,
		FilterSubject: command.EventPrefix + ".>",
	}); err != nil {
		t.Fatal(err)
	}
	// Another replica holds the consumer's first message (fetched, not
	// acknowledged): the deliveries Run receives then do not start at the
	// acknowledgement floor, so its lane checks the stream before each
	// message (a lane that got every delivery since the floor does not).
	if _, err := js.Publish(ctx, command.EventSubject(partnerA, uuid.NewString(), command.Activated), []byte("held elsewhere")); err != nil {
		t.Fatal(err)
	}
	other, err := js.Consumer(ctx, natsbus.EventStream, consumer)
	if err != nil {
		t.Fatal(err)
	}
	if batch, err := other.Fetch(1, jetstream.FetchMaxWait(5*time.Second)); err != nil {
		t.Fatal(err)
	} else if m := <-batch.Messages(); m == nil {
		t.Fatal("the other replica got no message")
	}
	subject := command.EventSubject(partnerA, uuid.NewString(), command.Activated)
	const n = 4
	for i := range n {
		if _, err := js.Publish(ctx, subject, fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	before := orderChecks(t)
	handled := make(chan string, n)
	rc := natsbus.RouterConfig{
		Conn: srv.Connect(t, "provisioner"), AckWait: 30 * time.Second, CloseTimeout: 5 * time.Second,
		Redelivery: natsbus.Backoff{Base: 20 * time.Millisecond, Max: 100 * time.Millisecond},
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- natsbus.Run(rctx, rc, []natsbus.Handler{{
			Stream: natsbus.EventStream, Consumer: consumer,
			Handle:       func(_ context.Context, m natsbus.Message) error { handled <- string(m.Data); return nil },
			LaneSubjects: func(s string) []string { return []string{s} },
		}})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	for i := range n {
		select {
		case got := <-handled:
			if want := fmt.Sprint(i); got != want {
				t.Fatalf("handled %q, want %q: out of order", got, want)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("handled %d of %d: the lane waits for an acknowledged message left in the stream", i, n)
		}
	}
	if got := orderChecks(t)["stream"] - before["stream"]; got < n {
		t.Errorf("%v order checks asked the stream, want one per message (%d): the lane did not know every earlier delivery", got, n)
	}
	stream, err := js.Stream(ctx, natsbus.EventStream)
	if err != nil {
		t.Fatal(err)
	}
	// The last one is acknowledged, and nothing waits behind it: the
	// earlier ones were removed as they held the lane up.
	for seq := uint64(2); seq <= n; seq++ { // 1 is the other replica's
		if _, err := stream.GetMsg(ctx, seq); err == nil {
			t.Errorf("stream message %d, acknowledged and in the lane's way, is still in the stream", seq)
		}
	}
}
