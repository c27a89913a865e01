package provisioner_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/provisioner"
)

// A replica dies after the apply recorded a termination and before its
// event was published, and the command never comes back (it expired, or
// an operator removed it from the stream). Without the outbox, retention
// would never hear of the termination and the key would live forever.
// The outbox relay publishes the event the apply left behind.
func TestTerminationEventSurvivesACrashAfterTheApply(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	stop := h.start(t)
	id := uuid.NewString()
	mustApplied(t, h.send(registerCmd(id, "outboxed")))
	stop()

	dying := &dyingEvents{published: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(func() { close(dying.release) })
	stop = h.start(t, func(cfg *provisioner.Config) {
		dying.Publisher = cfg.Publisher
		cfg.Publisher = dying
	})
	term := terminateCmd(id, "NO_RETENTION", nil)
	h.publish(term)
	<-dying.published
	stop() // died between the apply and the publish
	// The command is gone for good.
	js, err := jetstream.New(h.stack.NATS.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, natsbus.CommandStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if o, err := h.store.Outcome(ctx, partnerID, id, term.ID); err != nil || o == nil || o.Status != command.Applied {
		t.Fatalf("stored outcome %+v (%v), want the applied termination", o, err)
	}
	if got := terminations(h.eventsOf(id)); got != 0 {
		t.Fatalf("%d termination events before the relay, want 0 (the replica died first)", got)
	}

	p, err := provisioner.New(h.stack.ProvisionerConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	// Within the grace period the relay leaves the event to its command.
	if relayed, left, err := p.RelayOutbox(ctx, time.Hour, 100); err != nil || relayed != 0 || left != 0 {
		t.Fatalf("relay within grace: relayed %d, left %d, %v; want 0, 0, nil", relayed, left, err)
	}
	relayed, left, err := p.RelayOutbox(ctx, 0, 100)
	if err != nil || relayed != 1 || left != 0 {
		t.Fatalf("relay: relayed %d, left %d, %v; want 1, 0, nil", relayed, left, err)
	}
	h.waitFor("the relayed termination event", func() bool { return terminations(h.eventsOf(id)) == 1 })
	ev := h.eventsOf(id)
	last := ev[len(ev)-1]
	if last.ID != term.ID || last.CustomerVersion != 2 || last.Retention == nil || last.Retention.Strategy != "NO_RETENTION" {
		t.Fatalf("relayed event %+v, want the termination at version 2 with its retention", last)
	}
	// Delivered once: the outbox is empty and the customer leaves the index.
	if relayed, _, err := p.RelayOutbox(ctx, 0, 100); err != nil || relayed != 0 {
		t.Fatalf("second relay: relayed %d, %v; want 0", relayed, err)
	}
	if due, err := h.store.OutboxDue(ctx, time.Now(), 100); err != nil || len(due) != 0 {
		t.Fatalf("outbox index after delivery: %+v %v, want empty", due, err)
	}
}

// A command that published its own event leaves nothing for the relay.
func TestDeliveredEventsLeaveTheOutbox(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.start(t)
	id := uuid.NewString()
	mustApplied(t, h.send(registerCmd(id, "delivered")))
	// The outcome goes out before the event (finish): the outbox empties
	// once the event is published, right after.
	h.waitFor("an empty outbox after a normal apply", func() bool {
		evs, err := h.store.OutboxEvents(ctx, id)
		return err == nil && len(evs) == 0
	})
	p, err := provisioner.New(h.stack.ProvisionerConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	if relayed, left, err := p.RelayOutbox(ctx, 0, 100); err != nil || relayed != 0 || left != 0 {
		t.Fatalf("relay: relayed %d, left %d, %v; want nothing to do", relayed, left, err)
	}
}

func terminations(evs []command.Event) int {
	n := 0
	for _, e := range evs {
		if e.Type == command.Terminated {
			n++
		}
	}
	return n
}

// dyingEvents publishes everything but termination events, on which it
// blocks (until the test ends) as a process that died would.
type dyingEvents struct {
	provisioner.Publisher
	published chan struct{}
	release   chan struct{}
	once      sync.Once
}

func (d *dyingEvents) PublishEvent(ctx context.Context, e *command.Event) error {
	if e.Type != command.Terminated {
		return d.Publisher.PublishEvent(ctx, e)
	}
	d.once.Do(func() { close(d.published) })
	<-d.release
	return context.Canceled
}

// Outcomes are scoped by partner: a partner that uses another partner's
// command id (on that partner's customer, which it may not touch) is
// rejected without occupying the id; the owner's command with the same id
// applies, and each partner looks up only its own command.
func TestCommandIDsAreScopedByPartner(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.start(t)
	id := uuid.NewString()
	mustApplied(t, h.send(registerCmd(id, "scoped")))
	p, err := provisioner.New(h.stack.ProvisionerConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	mine := newCmd(command.Activate, id, nil)
	theirs := *mine
	theirs.PartnerID, theirs.Actor = otherPartnerID, "partner:"+otherPartnerID
	// Handled directly: JetStream's de-duplication window (minutes) is the
	// stream's; this is about what is recorded for good.
	if err := p.Handle(ctx, incoming(t, &theirs)); err != nil {
		t.Fatal(err)
	}
	o, err := h.store.Outcome(ctx, otherPartnerID, id, mine.ID)
	if err != nil || o == nil || o.Status != command.Rejected || o.Errors[0].Code != "NOT_FOUND" {
		t.Fatalf("other partner's command: %+v (%v), want rejected NOT_FOUND", o, err)
	}
	if err := p.Handle(ctx, incoming(t, mine)); err != nil {
		t.Fatal(err)
	}
	o, err = h.store.Outcome(ctx, partnerID, id, mine.ID)
	if err != nil || o == nil || o.Status != command.Applied || o.CustomerVersion != 2 {
		t.Fatalf("owner's command with the same id: %+v (%v), want applied at version 2", o, err)
	}
	for _, c := range []struct {
		scope string
		want  command.OutcomeStatus
	}{{partnerID, command.Applied}, {otherPartnerID, command.Rejected}} {
		got, err := h.store.CommandOutcome(ctx, c.scope, mine.ID)
		if err != nil || got == nil || got.Status != c.want || got.PartnerID != c.scope {
			t.Fatalf("command %s looked up by %s: %+v (%v), want its own %s", mine.ID, c.scope, got, err, c.want)
		}
	}
	if got, err := h.store.CommandOutcome(ctx, "", mine.ID); err != nil || got == nil {
		t.Fatalf("operator lookup: %+v (%v), want one of them", got, err)
	}
	ttl, err := h.stack.RDB.PTTL(ctx, "cust:{"+id+"}:cmd:"+partnerID+":"+mine.ID).Result()
	if err != nil || ttl <= 0 || ttl > 7*24*time.Hour {
		t.Fatalf("outcome TTL %v (%v), want a bounded TTL", ttl, err)
	}
}
