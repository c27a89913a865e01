package provisioner

import (
	"context"
	"errors"
	"time"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/customer/repository"
	"github.com/textkit/customers/internal/failure"
)

// reject records the command's rejection for why, and publishes it. An
// outcome of the command stored already wins (Repository.Reject).
func (p *Provisioner) reject(ctx context.Context, chk *command.Checked, why error) error {
	var ue *customer.Error
	if errors.As(why, &ue) && ue.Code == customer.CodeUnavailable && ue.Message != "" {
		logger(ctx).Warn("command rejected: dependency", "reason", ue.Message)
	}
	out := outcomeOf(chk, p.cfg.Now().UTC())
	out.Status = command.Rejected
	out.Errors = customer.AsErrors(why)
	out.Retryable = customer.ErrorCode(why) == customer.CodeUnavailable
	stored, err := p.cfg.Store.Reject(ctx, out)
	if err != nil {
		return p.transient("record outcome", err)
	}
	observeRejection(stored)
	return p.finish(ctx, chk, stored)
}

// applied is what the command records when it is applied at now: its
// outcome and its event (the repository sets their customer version).
func applied(chk *command.Checked, now time.Time) repository.Applied {
	out := outcomeOf(chk, now.UTC())
	out.Status = command.Applied
	out.Event = command.EventOf(chk.Type)
	return repository.Applied{Outcome: out, Event: eventOf(chk, &out), Actor: chk.Actor}
}

// outcomeOf is the command's outcome at now, without its verdict.
func outcomeOf(chk *command.Checked, now time.Time) command.Outcome {
	return command.Outcome{
		Version: command.WireVersion, CommandID: chk.ID, Type: chk.Type,
		CustomerID: chk.CustomerID, PartnerID: chk.PartnerID, ProcessedAt: now,
	}
}

// recorded finishes a command the repository recorded as applied (or
// found recorded already), and turns the repository's error into the
// handler's verdict: a refusal (from the change) as it is, a customer the
// command cannot act on (unknown, or existing already for a registration)
// as a refusal, anything else as a retry.
func (p *Provisioner) recorded(ctx context.Context, chk *command.Checked, out *command.Outcome, err error) error {
	var r *refusal
	switch {
	case err == nil:
		return p.finish(ctx, chk, out)
	case errors.As(err, &r), failure.IsTransient(err):
		return err
	case customer.ErrorCode(err) == customer.CodeNotFound, customer.ErrorCode(err) == customer.CodeConflict:
		return refuse(err)
	}
	return p.transient("record the command", err)
}

// finish publishes a stored outcome and everything that follows from it.
// It runs again when a command is redelivered after a crash, so each step
// is idempotent (events are de-duplicated by id). The event was put in the
// customer's outbox by the apply; if this process dies before delivering
// it, the outbox relay does.
//
// The outcome goes out before the event: the answer waits only for what a
// read right after it must see (a new customer listed under its partner),
// not for the event's JetStream write and the outbox clean-up. The message
// is acknowledged only after both, so a failure there redelivers it and
// the outcome is published again, the same.
func (p *Provisioner) finish(ctx context.Context, chk *command.Checked, out *command.Outcome) error {
	log := logger(ctx)
	var ev *command.Event
	if out.Status == command.Applied {
		ev = eventOf(chk, out)
		if err := p.listed(ctx, ev); err != nil {
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
	if ev == nil {
		return nil
	}
	return p.publish(ctx, ev)
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

// deliver does what follows from an applied command's event (listed),
// publishes it, and removes it from the customer's outbox (publish).
// Every step is idempotent.
func (p *Provisioner) deliver(ctx context.Context, ev *command.Event) error {
	if err := p.listed(ctx, ev); err != nil {
		return err
	}
	return p.publish(ctx, ev)
}

// listed lists a new customer under its partner.
func (p *Provisioner) listed(ctx context.Context, ev *command.Event) error {
	if ev.Type != command.Registered {
		return nil
	}
	if err := p.cfg.Store.IndexCustomer(ctx, ev.PartnerID, ev.CustomerID); err != nil {
		return p.transient("index customer", err)
	}
	return nil
}

// publish stores the event in the event stream and removes it from the
// customer's outbox.
func (p *Provisioner) publish(ctx context.Context, ev *command.Event) error {
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
