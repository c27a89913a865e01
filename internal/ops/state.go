package ops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/keys"
	"github.com/textkit/customers/internal/redisstore"
)

// CommandView is what is known of a command: its outcome once processed,
// else what the gateway recorded when it sent it (Status PENDING).
type CommandView struct {
	CommandID string              `json:"commandId"`
	Status    string              `json:"status"`
	Outcome   *command.Outcome    `json:"outcome,omitempty"`
	Pending   *redisstore.Pending `json:"pending,omitempty"`
}

// Command looks a command up by id, any partner's.
func Command(ctx context.Context, store *redisstore.Store, id string) (CommandView, error) {
	o, err := store.CommandOutcome(ctx, "", id)
	if err != nil {
		return CommandView{}, err
	}
	if o != nil {
		return CommandView{CommandID: id, Status: string(o.Status), Outcome: o}, nil
	}
	p, err := store.PendingCommand(ctx, id)
	if err != nil {
		return CommandView{}, err
	}
	if p == nil {
		return CommandView{}, fmt.Errorf("%w: no command %s (no outcome, nothing pending; outcomes are kept %s)", ErrNotFound, id, redisstore.OutcomeTTL)
	}
	return CommandView{CommandID: id, Status: "PENDING", Pending: p}, nil
}

// CustomerView is a customer as an operator sees it, with its history and
// its key's state. Contact info is never shown, only whether it is set.
type CustomerView struct {
	ID           string                    `json:"id"`
	PartnerID    string                    `json:"partnerId"`
	IndustryID   string                    `json:"industryId"`
	Space        string                    `json:"space"`
	Label        string                    `json:"label,omitempty"`
	Status       customer.Status           `json:"status"`
	Version      int64                     `json:"version"`
	TwilioSID    string                    `json:"twilioSubaccountSid,omitempty"`
	ContactSet   bool                      `json:"contactInfoSet"`
	Retention    *customer.Retention       `json:"retention,omitempty"`
	CreatedAt    time.Time                 `json:"createdAt"`
	UpdatedAt    time.Time                 `json:"updatedAt"`
	TerminatedAt time.Time                 `json:"terminatedAt,omitzero"`
	Key          KeyView                   `json:"key"`
	History      []redisstore.HistoryEntry `json:"history"`
}

// KeyView is the state of a customer's encryption key.
type KeyView struct {
	State       keys.State `json:"state"`
	DestroyAt   time.Time  `json:"destroyAt,omitzero"`
	DestroyedAt time.Time  `json:"destroyedAt,omitzero"`
	Reason      string     `json:"reason,omitempty"`
	Problem     string     `json:"problem,omitempty"`
}

// Customer looks a customer up by id or, when ref is not a UUID, by space.
func Customer(ctx context.Context, store *redisstore.Store, ref string) (CustomerView, error) {
	id := customer.NormalizeID(ref)
	if customer.ValidateID("id", id) != nil {
		owner, err := store.SpaceOwner(ctx, ref)
		if err != nil {
			return CustomerView{}, err
		}
		if owner == "" {
			return CustomerView{}, fmt.Errorf("%w: no customer with id or space %q", ErrNotFound, ref)
		}
		id = owner
	}
	c, err := store.Get(ctx, id)
	if customer.ErrorCode(err) == customer.CodeNotFound {
		return CustomerView{}, fmt.Errorf("%w: no customer %s", ErrNotFound, id)
	}
	if err != nil {
		return CustomerView{}, err
	}
	v := CustomerView{
		ID: c.ID(), PartnerID: c.PartnerID(), IndustryID: c.IndustryID(), Space: c.Space(), Label: c.Label(),
		Status: c.Status(), Version: c.Version(), TwilioSID: c.TwilioSID(), ContactSet: c.ContactCiphertext() != "",
		Retention: c.Retention(), CreatedAt: c.CreatedAt(), UpdatedAt: c.UpdatedAt(), TerminatedAt: c.TerminatedAt(),
	}
	if v.History, err = store.History(ctx, id); err != nil {
		return CustomerView{}, err
	}
	r, err := store.KeyStatus(ctx, id)
	if err != nil && !errors.Is(err, keys.ErrUnreadable) {
		return CustomerView{}, err
	}
	v.Key = KeyView{State: r.State, DestroyAt: r.DestroyAt, DestroyedAt: r.DestroyedAt, Reason: r.Reason}
	if err != nil {
		v.Key.Problem = err.Error()
	}
	return v, nil
}

// DueKey is one key destruction in the schedule.
type DueKey struct {
	CustomerID string    `json:"customerId"`
	Due        time.Time `json:"due,omitzero"`
	Next       time.Time `json:"next"`
	Claimed    bool      `json:"claimed"`
	Overdue    bool      `json:"overdue"`
}

// KeysDue returns up to limit scheduled key destructions whose next
// attempt is not after until, soonest first; Overdue marks those due
// before now.
func KeysDue(ctx context.Context, store *redisstore.Store, now, until time.Time, limit int) ([]DueKey, error) {
	entries, err := store.ScheduledKeyDestructions(ctx, until, limit)
	if err != nil {
		return nil, err
	}
	out := make([]DueKey, 0, len(entries))
	for _, e := range entries {
		due := e.Due
		if due.IsZero() {
			due = e.Next
		}
		out = append(out, DueKey{CustomerID: e.CustomerID, Due: e.Due, Next: e.Next, Claimed: e.Claimed, Overdue: due.Before(now)})
	}
	return out, nil
}
