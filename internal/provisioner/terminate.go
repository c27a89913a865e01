package provisioner

import (
	"context"
	"time"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
)

// terminate terminates the customer with the command's retention and
// closes its Twilio sub-account (closeSubaccount).
func (p *Provisioner) terminate(ctx context.Context, chk *command.Checked, c *customer.Customer, now time.Time) error {
	if err := c.Terminate(chk.Retention, now); err != nil {
		return refuse(err)
	}
	if c.TwilioSID() != "" {
		if err := p.closeSubaccount(ctx, c.TwilioSID()); err != nil {
			return p.dependency("close the Twilio sub-account", err)
		}
	}
	return nil
}
