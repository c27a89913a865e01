package provisioner_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/provisioner"
	"github.com/textkit/customers/internal/stacktest"
)

// recording is a Publisher that records what is published, in order, and
// fails the next event publish while failEvent is set.
type recording struct {
	provisioner.Publisher
	mu        sync.Mutex
	published []string
	failEvent bool
}

func (r *recording) PublishOutcome(_ context.Context, o *command.Outcome) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.published = append(r.published, "outcome "+string(o.Status))
	return nil
}

func (r *recording) PublishEvent(_ context.Context, e *command.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failEvent {
		r.failEvent = false
		return errors.New("event stream unavailable")
	}
	r.published = append(r.published, "event "+string(e.Type))
	return nil
}

func (r *recording) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.published
	r.published = nil
	return out
}

// TestOutcomeGoesOutBeforeTheEvent: the answer does not wait for the
// event's JetStream write. When that write fails, the command is not
// finished (redelivered) and its event stays in the outbox; the
// redelivery publishes the same outcome again, then the event, and
// empties the outbox.
func TestOutcomeGoesOutBeforeTheEvent(t *testing.T) {
	s := stacktest.Start(t, stacktest.Options{NoProvisioner: true, NoKeyKeeper: true})
	cfg := s.ProvisionerConfig(t)
	pub := &recording{}
	cfg.Publisher = pub
	p, err := provisioner.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := uuid.NewString()
	if err := p.Handle(ctx, incoming(t, registerCmd(id, "finish-"+id[:8]))); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(pub.take()); got != "[outcome APPLIED event customer.registered]" {
		t.Fatalf("registration published %s, want the outcome, then the event", got)
	}

	if err := s.Vault.Client(t, s.Tokens.Retention).CreateKey(ctx, id); err != nil { // retention's part
		t.Fatal(err)
	}
	pub.failEvent = true
	activate := incoming(t, newCmd(command.Activate, id, nil))
	if err := p.Handle(ctx, activate); err == nil {
		t.Fatal("the event's publish failed, yet the command is finished")
	}
	if got := fmt.Sprint(pub.take()); got != "[outcome APPLIED]" {
		t.Fatalf("with the event stream down, published %s, want the outcome", got)
	}
	if evs, err := s.Store.OutboxEvents(ctx, id); err != nil || len(evs) != 1 || evs[0].Type != command.Activated {
		t.Fatalf("outbox %+v (%v), want the activated event kept", evs, err)
	}
	if err := p.Handle(ctx, activate); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if got := fmt.Sprint(pub.take()); got != "[outcome APPLIED event customer.activated]" {
		t.Fatalf("the redelivery published %s, want the outcome again, then the event", got)
	}
	if evs, err := s.Store.OutboxEvents(ctx, id); err != nil || len(evs) != 0 {
		t.Fatalf("outbox %+v (%v), want it empty once the event is out", evs, err)
	}
}
