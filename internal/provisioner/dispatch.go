package provisioner

import (
	"context"
	"errors"
	"time"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/failure"
)

// A handler applies one command type: it computes the command's effect and
// records it (record, which also publishes it). It returns nil when the
// command is finished, a refusal (refuse) when the command is to be
// rejected, and any other error to have it redelivered
// (redisstore.ErrStale: computed again at once, see executeFresh).
type handler func(p *Provisioner, ctx context.Context, chk *command.Checked) error

// handlers holds the handler of every command type, each in its own file.
var handlers = map[command.Type]handler{
	command.Register:          (*Provisioner).register,
	command.Activate:          onCustomer((*Provisioner).activate),
	command.Deactivate:        onCustomer((*Provisioner).deactivate),
	command.UpdateContactInfo: onCustomer((*Provisioner).updateContactInfo),
	command.Terminate:         onCustomer((*Provisioner).terminate),
}

// execute applies the command with its type's handler, recording the
// handler's refusal as the command's rejection.
func (p *Provisioner) execute(ctx context.Context, chk *command.Checked) error {
	h, ok := handlers[chk.Type]
	if !ok {
		// command.Check lets only known types through.
		return p.reject(ctx, chk, customer.Invalid("type", "unknown command type %q", chk.Type))
	}
	err := h(p, ctx, chk)
	var r *refusal
	if errors.As(err, &r) {
		return p.reject(ctx, chk, r.why)
	}
	return err
}

// A change applies one command type to an existing customer c, which is
// the command's partner's and at the expected version: it drives c's
// transition (at now) and what must happen outside (Twilio, Vault) before
// the new state is recorded. It returns nil to have c recorded, a refusal
// to have the command rejected, and any other error to have it redelivered.
type change func(p *Provisioner, ctx context.Context, chk *command.Checked, c *customer.Customer, now time.Time) error

// onCustomer is the handler of a change: load the customer the command
// may see and check its version, apply the change, record the new state.
func onCustomer(apply change) handler {
	return func(p *Provisioner, ctx context.Context, chk *command.Checked) error {
		now := p.cfg.Now()
		c, err := p.loadVisible(ctx, chk)
		if err != nil {
			return err
		}
		base := c.Version()
		if err := apply(p, ctx, chk, c, now); err != nil {
			return err
		}
		return p.record(ctx, chk, c, base)
	}
}

// loadVisible loads the command's customer and checks the version the
// command expects. Another partner's customer looks exactly like a
// missing one.
func (p *Provisioner) loadVisible(ctx context.Context, chk *command.Checked) (*customer.Customer, error) {
	c, err := p.cfg.Store.Get(ctx, chk.CustomerID)
	if customer.ErrorCode(err) == customer.CodeNotFound || (err == nil && c.PartnerID() != chk.PartnerID) {
		return nil, refuse(customer.Errorf(customer.CodeNotFound, "customer %s not found", chk.CustomerID))
	}
	if err != nil {
		return nil, p.transient("load customer", err)
	}
	if err := c.CheckVersion(chk.ExpectedVersion); err != nil {
		return nil, refuse(err)
	}
	return c, nil
}

// refusal is a handler's verdict that its command is rejected, for why
// (execute records it with reject). It never leaves the package.
type refusal struct{ why error }

func (r *refusal) Error() string { return "command refused: " + r.why.Error() }

// refuse has the command rejected for why.
func refuse(why error) error { return &refusal{why: why} }

// dependency turns a Twilio or Vault failure into a retry (transient) or a
// refusal (permanent), by failure.IsTransient.
func (p *Provisioner) dependency(what string, err error) error {
	if failure.IsTransient(err) {
		return p.transient(what, err)
	}
	var ue *customer.Error
	if errors.As(err, &ue) {
		return refuse(ue)
	}
	return refuse(customer.Errorf(customer.CodeUnavailable, "could not %s: %v", what, err))
}
