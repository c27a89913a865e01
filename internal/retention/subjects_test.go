package retention_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/keys"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/retention"
)

// TestRetentionReadsOnlyTheEventsItActsOn: the consumer delivers
// registrations and terminations, not the other changes (each would cost
// a delivery and an acknowledgement for nothing), and still every event
// stored before event subjects carried their type (the legacy
// customers.evt.<partnerId>.<customerId> form), so a stream written by an
// older provisioner is handled after an upgrade (and the older
// retention's consumer, filtering customers.evt.>, is updated).
func TestRetentionReadsOnlyTheEventsItActsOn(t *testing.T) {
	e := newEnv(t)
	id, legacy := newID(), newID()
	at := time.Now()

	// An older provisioner's registration and termination, before
	// retention's consumer exists.
	for _, ev := range []*command.Event{registered(legacy, at), terminated(legacy, customer.Retention{Strategy: customer.NoRetention}, at)} {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.js.Publish(ctx(t), command.CustomerEvents(ev.PartnerID, ev.CustomerID), b, jetstream.WithMsgID(ev.ID)); err != nil {
			t.Fatal(err)
		}
	}
	// The consumer as the older retention left it: one filter, every
	// customer event. Retention updates it when it starts.
	old := retention.ConsumerConfig(time.Minute)
	old.FilterSubjects, old.FilterSubject = nil, command.EventPrefix+".>"
	rjs, err := jetstream.New(e.nats.Connect(t, "retention"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rjs.CreateOrUpdateConsumer(ctx(t), natsbus.EventStream, old); err != nil {
		t.Fatal(err)
	}
	e.publish(registered(id, at))
	for i, typ := range []command.EventType{command.Activated, command.ContactInfoUpdated, command.Deactivated} {
		ev := registered(id, at)
		ev.ID, ev.Type, ev.CustomerVersion = "cmd-"+string(typ)+"-"+id, typ, int64(i+2)
		e.publish(ev)
	}
	e.start(t)
	e.waitState(id, keys.Active)
	e.waitState(legacy, keys.Destroyed)
	e.waitConsumed()

	c, err := e.js.Consumer(ctx(t), natsbus.EventStream, retention.ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := info.Config.FilterSubjects, retention.ConsumerConfig(0).FilterSubjects; !slices.Equal(got, want) {
		t.Errorf("consumer filters %q, want %q", got, want)
	}
	// Delivered: the two legacy events and the new registration; not the
	// three other changes, nor the key events retention published.
	if got := info.Delivered.Consumer; got != 3 {
		t.Fatalf("retention's consumer delivered %d events, want 3 (2 legacy, 1 registration)", got)
	}
}

// TestOneCustomersEventsAreHandledInOrder: a customer's registration and
// termination, on subjects that differ by their type token, are still one
// lane: the key is created (KeyCreated) before its destruction is
// scheduled, for every customer, never skipped because the termination
// was handled first.
func TestOneCustomersEventsAreHandledInOrder(t *testing.T) {
	e := newEnv(t)
	at := time.Now()
	var ids []string
	for range 20 {
		id := newID()
		ids = append(ids, id)
		e.publish(registered(id, at))
		e.publish(terminated(id, customer.Retention{Strategy: customer.Temporary, Period: 1}, at))
	}
	e.start(t)
	for _, id := range ids {
		e.waitState(id, keys.Scheduled)
	}
	e.waitConsumed()
	for _, id := range ids {
		if got := e.keyEventsOf(id, command.KeyCreated); len(got) != 1 {
			t.Errorf("customer %s: %d key created events, want 1: its termination was handled before its registration", id, len(got))
		}
		if !e.keyExists(id) {
			t.Errorf("customer %s: no key in Vault", id)
		}
	}
}
