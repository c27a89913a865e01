package redisstore

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/customer/repository"
)

// The customer repository (repository.Repository): every change goes
// through apply, one Lua script (apply.lua) that checks the idempotency
// record and the version and writes everything at once.

//go:embed apply.lua
var applySource string

var applyScript = redis.NewScript(applySource)

// change is what one command does to one customer, as apply records it.
type change struct {
	customerID string
	// base is the version the new state was computed from: 0 to create
	// the customer.
	base int64
	// state is the new state; nil records a rejection, which changes
	// nothing.
	state   *customer.Customer
	outcome command.Outcome
	event   *command.Event
	actor   string
}

// errStale means the customer is no longer at the change's base version.
var errStale = errors.New("customer changed concurrently")

// Create stores c, a new customer, at version 1 with rec
// (repository.Repository).
func (s *Store) Create(ctx context.Context, c *customer.Customer, rec repository.Applied) (*command.Outcome, error) {
	if err := rec.Check(c.ID()); err != nil {
		return nil, err
	}
	out, err := s.apply(ctx, change{customerID: c.ID(), state: c, outcome: rec.Outcome, event: rec.Event, actor: rec.Actor})
	if errors.Is(err, errStale) {
		return nil, customer.Errorf(customer.CodeConflict, "customer %s already exists", c.ID())
	}
	return out, err
}

// Update loads the customer with id, calls fn on it and stores the result
// at the next version with the record fn returns, calling fn again on a
// fresh load when the customer changed in between (repository.Repository).
func (s *Store) Update(ctx context.Context, id string, fn func(c *customer.Customer) (repository.Applied, error)) (*command.Outcome, error) {
	for attempt := 1; ; attempt++ {
		c, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		base := c.Version()
		rec, err := fn(c)
		if err != nil {
			return nil, err
		}
		if err := rec.Check(id); err != nil {
			return nil, err
		}
		out, err := s.apply(ctx, change{customerID: id, base: base, state: c, outcome: rec.Outcome, event: rec.Event, actor: rec.Actor})
		if !errors.Is(err, errStale) {
			return out, err
		}
		if attempt == repository.MaxAttempts {
			return nil, fmt.Errorf("update customer %s: %w (%d attempts): %w", id, repository.ErrContended, attempt, err)
		}
	}
}

// Reject stores a rejection as its command's outcome unless one is stored
// already, and returns the outcome stored (repository.Repository).
func (s *Store) Reject(ctx context.Context, out command.Outcome) (*command.Outcome, error) {
	if err := repository.CheckRejection(out); err != nil {
		return nil, err
	}
	return s.apply(ctx, change{customerID: out.CustomerID, outcome: out})
}

// apply atomically records a command: if an outcome for the command id is
// already stored it is returned and nothing changes; otherwise, for an
// applied change, the customer must still be at ch.base (else errStale),
// its state is written at base+1, the history entry appended and the event
// put in the outbox; then the outcome is stored. A rejection stores only
// the outcome. The customer is listed in the outbox index before the
// script runs (noteOutbox): the script may only touch the customer's slot.
// Both are durable writes (durably).
func (s *Store) apply(ctx context.Context, ch change) (*command.Outcome, error) {
	keys := []string{customerKey(ch.customerID), historyKey(ch.customerID),
		outcomeKey(ch.customerID, ch.outcome.PartnerID, ch.outcome.CommandID), outboxKey(ch.customerID),
		legacyOutcomeKey(ch.customerID, ch.outcome.CommandID)}
	args, err := ch.scriptArgs()
	if err != nil {
		return nil, err
	}
	if ch.state != nil && ch.event != nil {
		if err := s.noteOutbox(ctx, ch.customerID, ch.event.OccurredAt); err != nil {
			return nil, err
		}
	}
	res, err := s.runScript(ctx, applyScript, keys, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("apply command %s: %w", ch.outcome.CommandID, err)
	}
	code, _ := res[0].(int64)
	payload, _ := res[1].(string)
	switch code {
	case 0, 1: // already processed; recorded now
		return decodeOutcome(payload)
	case 2:
		return nil, fmt.Errorf("%w: customer %s is at version %q, change computed from %d", errStale, ch.customerID, payload, ch.base)
	}
	return nil, fmt.Errorf("apply command %s: unexpected script result %v", ch.outcome.CommandID, res)
}

// scriptArgs encodes ch as apply.lua's ARGV, the new version set in the
// state, the outcome, the history entry and the event.
func (ch change) scriptArgs() ([]any, error) {
	base, doc, hist, evID, ev := "reject", "", "", "", ""
	out := ch.outcome
	if ch.state != nil {
		snap := ch.state.Snapshot()
		snap.Version = ch.base + 1
		out.CustomerVersion = snap.Version
		d, err := json.Marshal(snap)
		if err != nil {
			return nil, fmt.Errorf("encode customer: %w", err)
		}
		h, err := json.Marshal(HistoryEntry{Version: snap.Version, Event: out.Event, At: out.ProcessedAt, Actor: ch.actor, CommandID: out.CommandID})
		if err != nil {
			return nil, fmt.Errorf("encode history: %w", err)
		}
		base, doc, hist = strconv.FormatInt(ch.base, 10), string(d), string(h)
		if ch.event != nil {
			e := *ch.event
			e.CustomerVersion = snap.Version
			b, err := json.Marshal(e)
			if err != nil {
				return nil, fmt.Errorf("encode event: %w", err)
			}
			evID, ev = e.ID, string(b)
		}
	}
	o, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode outcome: %w", err)
	}
	return []any{string(o), base, doc, hist, OutcomeTTL.Milliseconds(), evID, ev}, nil
}

// The real store is the repository every service is wired with.
var _ repository.Repository = (*Store)(nil)
