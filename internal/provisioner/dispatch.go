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

// A handler applies one command type: it computes the command's effect and
// records it through the repository (Store.Create, Store.Update), then
// publishes it (recorded). It returns nil when the command is finished, a
// refusal (refuse) when the command is to be rejected, and any other error
// to have it redelivered.
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
// to have the command rejected, and any other error to have it
// redelivered. The repository calls it again, on the new state, when the
// customer changed concurrently, so everything it does outside must be
// safe to repeat (as for a redelivery).
type change func(p *Provisioner, ctx context.Context, chk *command.Checked, c *customer.Customer, now time.Time) error

// onCustomer is the handler of a change: the repository loads the
// customer, the command checks it may see it at the version it expects,
// the change is applied and the repository records the new state with the
// command's outcome and event, made once the change is done.
func onCustomer(apply change) handler {
	return func(p *Provisioner, ctx context.Context, chk *command.Checked) error {
		now := p.cfg.Now()
		out, err := p.cfg.Store.Update(ctx, chk.CustomerID, func(c *customer.Customer) (repository.Applied, error) {
			if err := visible(chk, c); err != nil {
				return repository.Applied{}, err
			}
			if err := apply(p, ctx, chk, c, now); err != nil {
				return repository.Applied{}, err
			}
			return applied(chk, p.cfg.Now()), nil
		})
		return p.recorded(ctx, chk, out, err)
	}
}

// visible checks that the command may act on c: another partner's
// customer looks exactly like a missing one, and c must be at the version
// the command expects.
func visible(chk *command.Checked, c *customer.Customer) error {
	if c.PartnerID() != chk.PartnerID {
		return refuse(customer.Errorf(customer.CodeNotFound, "customer %s not found", chk.CustomerID))
	}
	if err := c.CheckVersion(chk.ExpectedVersion); err != nil {
		return refuse(err)
	}
	return nil
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
