// Package repository is the port through which the services keep
// customers: a command's change is made with Update (or Create for a
// registration), and the repository, not its caller, loads the customer,
// checks that nobody changed it in between (compare-and-set, retrying the
// caller's function on a race), bumps the version and stores, in one
// atomic step, the new state, its history entry, the command's outcome
// (the idempotency record: an outcome already stored wins) and its event
// (the outbox). Rejections store only the outcome (Reject).
//
// internal/redisstore is the implementation; the contract every
// implementation keeps is tested once, in repositorytest.
package repository

import (
	"context"
	"errors"
	"fmt"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
)

// Repository keeps customers and the outcomes of the commands applied to
// them. Unless a method says otherwise, an error is a failure to reach the
// store or to read what it holds.
type Repository interface {
	// Get returns the customer with id; an unknown id gives an error
	// coded customer.CodeNotFound.
	Get(ctx context.Context, id string) (*customer.Customer, error)
	// Create stores c, a customer that does not exist yet, at version 1
	// with the command's Applied record. If an outcome of the command is
	// stored already, that outcome is returned and nothing changes; else
	// a customer with c's id that exists already gives an error coded
	// customer.CodeConflict.
	Create(ctx context.Context, c *customer.Customer, rec Applied) (*command.Outcome, error)
	// Update loads the customer with id and calls fn on it; fn changes
	// the customer and returns what the command records (its Applied
	// record, made when fn is done, so its times are the change's).
	// Update stores the customer as fn left it, at the next version, with
	// that record, atomically, and returns the stored outcome. If the
	// customer changed between the load and the store, it loads it again
	// and calls fn again, on the new state (fn must therefore be safe to
	// call more than once), up to MaxAttempts times in all; then it gives
	// up with ErrContended. An error from fn is returned as it is, and
	// nothing is stored. An unknown id gives an error coded
	// customer.CodeNotFound without calling fn. If an outcome of the
	// command is stored already (and is not a retryable rejection), that
	// outcome is returned and nothing changes.
	Update(ctx context.Context, id string, fn func(c *customer.Customer) (Applied, error)) (*command.Outcome, error)
	// Reject stores out, a rejection, as the outcome of its command
	// (keyed by its CustomerID, PartnerID and CommandID), unless an
	// outcome of that command is stored already (and is not a retryable
	// rejection), and returns the outcome stored: out, or the earlier
	// one. The customer does not change.
	Reject(ctx context.Context, out command.Outcome) (*command.Outcome, error)
	// Outcome returns the stored outcome of partnerID's command commandID
	// on customerID, nil if none is stored.
	Outcome(ctx context.Context, partnerID, customerID, commandID string) (*command.Outcome, error)
}

// MaxAttempts bounds how often Update calls its function for one command
// while the customer keeps changing under it.
const MaxAttempts = 9

// ErrContended means Update gave up: the customer changed between load and
// store MaxAttempts times in a row. Nothing was stored; trying the command
// again later is safe.
var ErrContended = errors.New("customer changed concurrently too often")

// Applied is what an applied command records beside the customer's new
// state.
type Applied struct {
	// Outcome is the command's outcome, with status APPLIED. The
	// repository sets its CustomerVersion to the new version. Its
	// PartnerID and CommandID key the idempotency record.
	Outcome command.Outcome
	// Event, if set, is put in the customer's outbox with the change (its
	// CustomerVersion set to the new version likewise), to be published
	// and then marked delivered; the customer is listed in the outbox
	// index, at the event's OccurredAt, before the change is stored.
	Event *command.Event
	// Actor is who sent the command, for the customer's history.
	Actor string
}

// Check reports what makes rec unfit to record a change of customer id.
func (rec Applied) Check(id string) error {
	o := rec.Outcome
	switch {
	case o.CommandID == "":
		return errors.New("applied record: outcome has no command id")
	case o.CustomerID != id:
		return fmt.Errorf("applied record: outcome is of customer %q, the change of %q", o.CustomerID, id)
	case o.Status != command.Applied:
		return fmt.Errorf("applied record: outcome status is %q, want %s", o.Status, command.Applied)
	case rec.Event != nil && rec.Event.CustomerID != id:
		return fmt.Errorf("applied record: event is of customer %q, the change of %q", rec.Event.CustomerID, id)
	case rec.Event != nil && rec.Event.ID == "":
		return errors.New("applied record: event has no id")
	case rec.Event != nil && rec.Event.OccurredAt.IsZero():
		return errors.New("applied record: event has no time")
	}
	return nil
}

// CheckRejection reports what makes out unfit to be recorded by Reject.
func CheckRejection(out command.Outcome) error {
	switch {
	case out.CommandID == "":
		return errors.New("rejection: outcome has no command id")
	case out.CustomerID == "":
		return errors.New("rejection: outcome has no customer id")
	case out.Status != command.Rejected:
		return fmt.Errorf("rejection: outcome status is %q, want %s", out.Status, command.Rejected)
	}
	return nil
}
