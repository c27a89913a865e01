package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/redisstore"
)

const claimPartner = "25521a6f-b8d1-414b-8575-545430f076fd"

func rejection(customerID, commandID string, retryable bool) command.Outcome {
	return command.Outcome{Version: 1, CommandID: commandID, CustomerID: customerID, PartnerID: claimPartner, Status: command.Rejected,
		Errors: []*customer.Error{{Code: customer.CodeUnavailable, Message: "down"}}, Retryable: retryable, ProcessedAt: time.Now().UTC()}
}

// Whichever comes first wins between the gateway settling a command and
// the provisioner claiming it; a final outcome wins over both.
func TestSettleAndClaimFirstWins(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()

	// Settled first: the claim gets the settlement back, to replay it.
	cust, cmd := uuid.NewString(), uuid.NewString()
	if _, fresh, err := s.Settle(ctx, rejection(cust, cmd, false)); err != nil || !fresh {
		t.Fatalf("Settle: fresh %v, %v", fresh, err)
	}
	prev, err := s.Claim(ctx, claimPartner, cust, cmd)
	if err != nil || prev == nil || prev.Status != command.Rejected {
		t.Fatalf("Claim of a settled command = %+v, %v; want the settlement", prev, err)
	}

	// Claimed first: settling is refused, nothing is stored.
	cust, cmd = uuid.NewString(), uuid.NewString()
	if prev, err := s.Claim(ctx, claimPartner, cust, cmd); err != nil || prev != nil {
		t.Fatalf("Claim = %+v, %v; want a claim", prev, err)
	}
	if _, _, err := s.Settle(ctx, rejection(cust, cmd, false)); !errors.Is(err, redisstore.ErrClaimed) {
		t.Fatalf("Settle of a claimed command: %v, want ErrClaimed", err)
	}
	if o, err := s.Outcome(ctx, claimPartner, cust, cmd); err != nil || o != nil {
		t.Fatalf("outcome after a refused settlement: %+v, %v", o, err)
	}

	// A retryable outcome is not final: the command can be claimed to run
	// again, or settled.
	cust, cmd = uuid.NewString(), uuid.NewString()
	if _, err := s.Reject(ctx, rejection(cust, cmd, true)); err != nil {
		t.Fatal(err)
	}
	if out, fresh, err := s.Settle(ctx, rejection(cust, cmd, false)); err != nil || !fresh || out.Retryable {
		t.Fatalf("Settle over a retryable outcome: %+v fresh %v, %v", out, fresh, err)
	}
}

// IndexAndClaim claims like Claim and indexes the command by id, in one
// round trip; a Redis that lost its scripts (restarted, flushed) loads
// the claim script again.
func TestIndexAndClaim(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	cust, cmd := uuid.NewString(), uuid.NewString()
	if prev, err := s.IndexAndClaim(ctx, claimPartner, cust, cmd); err != nil || prev != nil {
		t.Fatalf("IndexAndClaim = %+v, %v; want a claim", prev, err)
	}
	if _, _, err := s.Settle(ctx, rejection(cust, cmd, false)); !errors.Is(err, redisstore.ErrClaimed) {
		t.Fatalf("Settle of a claimed command: %v, want ErrClaimed", err)
	}

	// Settled first, and the scripts flushed: the settlement comes back,
	// found by the command's id alone.
	cust, cmd = uuid.NewString(), uuid.NewString()
	if _, fresh, err := s.Settle(ctx, rejection(cust, cmd, false)); err != nil || !fresh {
		t.Fatalf("Settle: fresh %v, %v", fresh, err)
	}
	if err := s.Client().ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	prev, err := s.IndexAndClaim(ctx, claimPartner, cust, cmd)
	if err != nil || prev == nil || prev.Status != command.Rejected {
		t.Fatalf("IndexAndClaim of a settled command = %+v, %v; want the settlement", prev, err)
	}
	if o, err := s.CommandOutcome(ctx, claimPartner, cmd); err != nil || o == nil || o.CommandID != cmd {
		t.Fatalf("CommandOutcome by id after IndexAndClaim = %+v, %v", o, err)
	}
}
