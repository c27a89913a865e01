package natsbus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/natsbus/natstest"
)

const (
	partnerA  = natstest.SeedPartnerID
	partnerB  = "9b2f3c1e-0000-4000-8000-000000000002"
	customerX = "0b8f6c0e-1111-4a1a-9a1a-000000000001"
)

func setup(t *testing.T) (*natstest.Server, jetstream.JetStream) {
	t.Helper()
	srv := natstest.Start(t)
	js, err := jetstream.New(srv.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := natsbus.EnsureStreams(ctx, js, natsbus.StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	if err := natsbus.EnsureStreams(ctx, js, natsbus.StreamLimits{}); err != nil {
		t.Fatalf("second EnsureStreams: %v", err)
	}
	if err := natsbus.EnsurePartitionConsumers(ctx, js, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return srv, js
}

func TestCommandsAreMappedOntoOnePartitionPerCustomerAndDeduplicated(t *testing.T) {
	srv, js := setup(t)
	ctx := context.Background()
	gw, err := jetstream.New(srv.Connect(t, "gateway"))
	if err != nil {
		t.Fatal(err)
	}
	subj := command.CommandSubject(partnerA, customerX)
	for i := 0; i < 3; i++ {
		ack, err := gw.Publish(ctx, subj, []byte(`{}`), jetstream.WithMsgID("cmd-1"))
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		if ack.Stream != natsbus.CommandStream {
			t.Fatalf("stored in %q, want %q", ack.Stream, natsbus.CommandStream)
		}
		if i > 0 && !ack.Duplicate {
			t.Fatalf("publish %d with the same Nats-Msg-Id was not flagged duplicate", i)
		}
	}
	if _, err := gw.Publish(ctx, subj, []byte(`{}`), jetstream.WithMsgID("cmd-2")); err != nil {
		t.Fatal(err)
	}
	// Both commands of the customer are in exactly one partition.
	found := -1
	for p := 0; p < natsbus.Partitions; p++ {
		c, err := js.Consumer(ctx, natsbus.CommandStream, natsbus.PartitionConsumerName(p))
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumPending > 0 {
			if found >= 0 {
				t.Fatalf("customer's commands in partitions %d and %d", found, p)
			}
			if info.NumPending != 2 {
				t.Fatalf("partition %d has %d pending, want 2", p, info.NumPending)
			}
			found = p
		}
	}
	if found < 0 {
		t.Fatal("no partition holds the commands")
	}
	if want := natsbus.PartitionOf(customerX); found != want {
		t.Fatalf("server put the customer in partition %d, PartitionOf says %d", found, want)
	}
}

func TestDirectPublisherMayOnlyPublishItsOwnCommands(t *testing.T) {
	srv, _ := setup(t)
	nc := srv.Connect(t, "partner-25521a6f")
	errs := make(chan error, 10)
	nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err })

	// Its own partner's subject works (core publish: JetStream acks need an
	// inbox with the partner's own prefix, see docs/commands.md).
	if err := nc.Publish(command.CommandSubject(partnerA, customerX), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{
		command.CommandSubject(partnerB, customerX),
		command.EventSubject(partnerA, customerX, command.Registered),
		command.OutcomeSubject(partnerA, "x"),
		command.DeadLetterSubject(partnerA),
	} {
		if err := nc.Publish(subj, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errs:
			if !errors.Is(err, nats.ErrPermissionViolation) {
				t.Fatalf("publish %s: got %v, want a permissions violation", subj, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("publish to %s was not refused", subj)
		}
	}
}

func TestPartitionOfAgreesWithTheServer(t *testing.T) {
	srv, js := setup(t)
	ctx := context.Background()
	gw, err := jetstream.New(srv.Connect(t, "gateway"))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, natsbus.CommandStream)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 64; i++ {
		id := uuid.NewString()
		ack, err := gw.Publish(ctx, command.CommandSubject(partnerA, id), []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		msg, err := stream.GetMsg(ctx, ack.Sequence)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%s.%d.%s.%s", command.PartitionPrefix, natsbus.PartitionOf(id), partnerA, id)
		if msg.Subject != want {
			t.Fatalf("server stored the command on %s, PartitionOf predicts %s", msg.Subject, want)
		}
	}
}

// Three replicas on a server outside a cluster are refused with an error
// that says what to do.
func TestThreeReplicasOnALoneServerAreRefusedClearly(t *testing.T) {
	srv := natstest.Start(t)
	js, err := jetstream.New(srv.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	err = natsbus.EnsureStreams(context.Background(), js, natsbus.StreamLimits{Replicas: 3})
	if err == nil || !strings.Contains(err.Error(), "not in a cluster (TEXTKIT_NATS_REPLICAS=3 needs a three-node JetStream cluster; use 1)") {
		t.Fatalf("EnsureStreams with 3 replicas on one server: %v", err)
	}
	if err := natsbus.EnsureStreams(context.Background(), js, natsbus.StreamLimits{Replicas: 2}); err == nil || !strings.Contains(err.Error(), "want 1") {
		t.Fatalf("EnsureStreams with 2 replicas: %v", err)
	}
}
