package provisioner_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/twilio"
)

// Registrations of one space under different customer ids land in
// different partitions and so run concurrently, on several replicas:
// exactly one wins, the others are rejected with CONFLICT before any
// Twilio sub-account is made for them.
func TestConcurrentRegistersOfOneSpace(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 3; i++ {
		h.start(t)
	}
	var cmds []*command.Command
	partitions := map[int]bool{}
	for len(partitions) < 8 {
		id := uuid.NewString()
		if partitions[natsbus.PartitionOf(id)] {
			continue
		}
		partitions[natsbus.PartitionOf(id)] = true
		cmds = append(cmds, registerCmd(id, "contested"))
	}
	for _, c := range cmds {
		h.publish(c)
	}
	winners := 0
	var winner string
	for _, c := range cmds {
		o := h.outcome(c.ID)
		switch o.Status {
		case command.Applied:
			winners++
			winner = c.CustomerID
		default:
			mustRejected(t, o, customer.CodeConflict)
			if o.Errors[0].Field != "payload.space" {
				t.Fatalf("rejection names %q, want payload.space", o.Errors[0].Field)
			}
			if len(h.twilio.Subaccounts(twilio.SubaccountName(c.CustomerID))) != 0 {
				t.Fatalf("a rejected registration made a Twilio sub-account")
			}
		}
	}
	if winners != 1 {
		t.Fatalf("%d registrations of one space applied, want exactly 1", winners)
	}
	owner, err := h.store.SpaceOwner(context.Background(), "contested")
	if err != nil || owner != winner {
		t.Fatalf("space owner %q (%v), want the winner %s", owner, err, winner)
	}
}
