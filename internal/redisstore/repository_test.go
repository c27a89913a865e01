package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/customer/repository"
	"github.com/textkit/customers/internal/customer/repository/repositorytest"
	"github.com/textkit/customers/internal/redisstore"
)

// The Redis store keeps the repository's contract.
func TestRepositoryContract(t *testing.T) {
	s := newStore(t) // one server; every customer id is new
	repositorytest.Run(t, func(*testing.T) repository.Repository { return s })
}

// What the contract cannot see: an applied change writes its history entry
// and puts its event, both at the new version, in the outbox, and lists
// the customer in the outbox index; a rejection writes neither.
func TestUpdateWritesHistoryAndOutbox(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	id := uuid.NewString()
	c, err := customer.New(id, uuid.NewString(), uuid.NewString(), "history-"+id[:8], "History", at)
	if err != nil {
		t.Fatal(err)
	}
	reg := appliedRecord(c, command.Register, at)
	if _, err := s.Create(ctx, c, reg); err != nil {
		t.Fatal(err)
	}
	act := appliedRecord(c, command.Activate, at.Add(time.Second))
	if _, err := s.Update(ctx, id, func(c *customer.Customer) (repository.Applied, error) { return act, c.Activate(at) }); err != nil {
		t.Fatal(err)
	}
	rej := act.Outcome
	rej.CommandID, rej.Status, rej.Event = uuid.NewString(), command.Rejected, ""
	if _, err := s.Reject(ctx, rej); err != nil {
		t.Fatal(err)
	}
	hist, err := s.History(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Version != 1 || hist[0].Event != command.Registered || hist[1].Version != 2 ||
		hist[1].CommandID != act.Outcome.CommandID || hist[1].Actor != "tester" || !hist[1].At.Equal(act.Outcome.ProcessedAt) {
		t.Fatalf("history %+v, want the registration at 1 and the activation at 2", hist)
	}
	evs, err := s.OutboxEvents(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].CustomerVersion != 1 || evs[1].CustomerVersion != 2 || evs[1].ID != act.Event.ID {
		t.Fatalf("outbox %+v, want both events at their versions", evs)
	}
	due, err := s.OutboxDue(ctx, at.Add(time.Minute), 10)
	if err != nil || len(due) != 1 || due[0].CustomerID != id {
		t.Fatalf("outbox index %+v (%v), want the customer listed", due, err)
	}
}

func appliedRecord(c *customer.Customer, typ command.Type, at time.Time) repository.Applied {
	id := uuid.NewString()
	out := command.Outcome{Version: command.WireVersion, CommandID: id, Type: typ, CustomerID: c.ID(), PartnerID: c.PartnerID(),
		Status: command.Applied, Event: command.EventOf(typ), ProcessedAt: at}
	ev := &command.Event{Version: command.WireVersion, ID: id, Type: out.Event, CustomerID: c.ID(), PartnerID: c.PartnerID(),
		CommandID: id, Actor: "tester", OccurredAt: at}
	return repository.Applied{Outcome: out, Event: ev, Actor: "tester"}
}

var _ repository.Repository = (*redisstore.Store)(nil)
