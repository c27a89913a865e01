package provisioner

import (
	"context"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/failure"
)

// register creates the customer: reference data, unique space, Twilio
// sub-account (find-or-create, so redeliveries never make a second one),
// then the atomic create.
func (p *Provisioner) register(ctx context.Context, chk *command.Checked) error {
	if err := p.checkRegistration(ctx, chk); err != nil {
		return err
	}
	reg := chk.Register
	owner, err := p.cfg.Store.ClaimSpace(ctx, reg.Space, chk.CustomerID)
	if err != nil {
		return p.transient("claim space", err)
	}
	if owner != chk.CustomerID {
		return refuse(customer.SpaceTaken("payload.space", reg.Space))
	}
	release := func() {
		if err := p.cfg.Store.ReleaseSpace(ctx, reg.Space, chk.CustomerID); err != nil {
			logger(ctx).Error("could not release space claim", "space", reg.Space, "error", err.Error())
		}
	}
	c, err := customer.New(chk.CustomerID, chk.PartnerID, reg.IndustryID, reg.Space, reg.Label, p.cfg.Now())
	if err != nil {
		release()
		return refuse(err)
	}
	acct, err := p.cfg.Twilio.EnsureSubaccount(ctx, chk.CustomerID)
	if err != nil {
		if failure.IsTransient(err) {
			return p.transient("create the Twilio sub-account", err)
		}
		release()
		return refuse(customer.Errorf(customer.CodeUnavailable, "the Twilio sub-account could not be created: %v", err))
	}
	if err := c.AttachSubaccount(acct.SID); err != nil {
		release()
		return refuse(err)
	}
	// An id created in between by another command: CONFLICT (recorded).
	out, err := p.cfg.Store.Create(ctx, c, applied(chk, p.cfg.Now()))
	return p.recorded(ctx, chk, out, err)
}

// checkRegistration checks the registration's reference data
// (customer.CheckRegistration) and that the customer does not exist yet.
func (p *Provisioner) checkRegistration(ctx context.Context, chk *command.Checked) error {
	reg := chk.Register
	errs, err := customer.CheckRegistration(ctx, p.cfg.Store, customer.Registration{
		CustomerID: chk.CustomerID, PartnerID: chk.PartnerID, IndustryID: reg.IndustryID, Space: reg.Space,
		PartnerField: "partnerId", IndustryField: "payload.industryId", SpaceField: "payload.space",
	})
	if err != nil {
		return p.transient("check the registration", err)
	}
	if len(errs) > 0 {
		return refuse(errs)
	}
	if _, err := p.cfg.Store.Get(ctx, chk.CustomerID); err == nil {
		return refuse(customer.Errorf(customer.CodeConflict, "customer %s already exists", chk.CustomerID))
	} else if customer.ErrorCode(err) != customer.CodeNotFound {
		return p.transient("load customer", err)
	}
	return nil
}
