package provisioner

import (
	"context"
	"errors"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/redisstore"
)

// reject records the command's rejection for why, and publishes it.
func (p *Provisioner) reject(ctx context.Context, chk *command.Checked, why error) error {
	var ue *customer.Error
	if errors.As(why, &ue) && ue.Code == customer.CodeUnavailable && ue.Message != "" {
		logger(ctx).Warn("command rejected: dependency", "reason", ue.Message)
	}
	return p.record(ctx, chk, nil, 0, why)
}

// record stores the command's result and then publishes it.
func (p *Provisioner) record(ctx context.Context, chk *command.Checked, state *customer.Customer, base int64, rejection ...error) error {
	now := p.cfg.Now().UTC()
	out := command.Outcome{
		Version: command.WireVersion, CommandID: chk.ID, Type: chk.Type,
		CustomerID: chk.CustomerID, PartnerID: chk.PartnerID, ProcessedAt: now,
	}
	ch := redisstore.Change{CustomerID: chk.CustomerID, CommandID: chk.ID}
	if len(rejection) > 0 && rejection[0] != nil {
		out.Status = command.Rejected
		out.Errors = customer.AsErrors(rejection[0])
		out.Retryable = customer.ErrorCode(rejection[0]) == customer.CodeUnavailable
	} else {
		out.Status = command.Applied
		out.Event = command.EventOf(chk.Type)
		ch.State, ch.BaseVersion = state, base
		ch.History = redisstore.HistoryEntry{Event: out.Event, At: now, Actor: chk.Actor, CommandID: chk.ID}
		ch.Event = eventOf(chk, &out)
		// Listed before the apply that fills the outbox: see redisstore.NoteOutbox.
		if err := p.cfg.Store.NoteOutbox(ctx, chk.CustomerID, now); err != nil {
			return p.transient("note outbox", err)
		}
	}
	ch.Outcome = out
	stored, fresh, err := p.cfg.Store.Apply(ctx, ch)
	if errors.Is(err, redisstore.ErrStale) {
		return err
	}
	if err != nil {
		return p.transient("record outcome", err)
	}
	if !fresh {
		logger(ctx).Info("command was processed concurrently; using the stored outcome")
	}
	return p.finish(ctx, chk, stored)
}

// finish publishes a stored outcome and everything that follows from it.
// It runs again when a command is redelivered after a crash, so each step
// is idempotent (events are de-duplicated by id). The event was put in the
// customer's outbox by the apply; if this process dies before delivering
// it, the outbox relay does.
func (p *Provisioner) finish(ctx context.Context, chk *command.Checked, out *command.Outcome) error {
	log := logger(ctx)
	if out.Status == command.Applied {
		if err := p.deliver(ctx, eventOf(chk, out)); err != nil {
			return err
		}
		log.Info("command applied", "customer_version", out.CustomerVersion, "event", string(out.Event))
	} else {
		log.Info("command rejected", "errors", command.Reason(out.Errors))
	}
	if err := p.cfg.Publisher.PublishOutcome(ctx, out); err != nil {
		// The outcome is stored; a client can still look it up.
		log.Warn("could not publish outcome", "error", err.Error())
	}
	return nil
}

// eventOf is the event of an applied command.
func eventOf(chk *command.Checked, out *command.Outcome) *command.Event {
	ev := &command.Event{
		Version: command.WireVersion, ID: chk.ID, Type: command.EventOf(chk.Type), CustomerID: chk.CustomerID,
		PartnerID: chk.PartnerID, CustomerVersion: out.CustomerVersion, CommandID: chk.ID,
		Actor: chk.Actor, OccurredAt: out.ProcessedAt, Status: statusAfter(chk.Type),
	}
	if chk.Type == command.Terminate {
		r := chk.Retention
		ev.Retention = &r
	}
	return ev
}

// deliver does what follows from an applied command's event (a new
// customer is listed under its partner), publishes it, and removes it from
// the customer's outbox. Every step is idempotent.
func (p *Provisioner) deliver(ctx context.Context, ev *command.Event) error {
	if ev.Type == command.Registered {
		if err := p.cfg.Store.IndexCustomer(ctx, ev.PartnerID, ev.CustomerID); err != nil {
			return p.transient("index customer", err)
		}
	}
	if err := p.cfg.Publisher.PublishEvent(ctx, ev); err != nil {
		return p.transient("publish event", err)
	}
	if err := p.cfg.Store.DeliveredEvent(ctx, ev.CustomerID, ev.ID); err != nil {
		return p.transient("mark event delivered", err)
	}
	return nil
}

func statusAfter(t command.Type) customer.Status {
	switch t {
	case command.Register:
		return customer.StatusRegistered
	case command.Activate:
		return customer.StatusActive
	case command.Deactivate:
		return customer.StatusDeactivated
	case command.Terminate:
		return customer.StatusTerminated
	}
	return ""
}
