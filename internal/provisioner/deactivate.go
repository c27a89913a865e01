package provisioner

import (
	"context"
	"time"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
)

// deactivate deactivates the customer and suspends its Twilio sub-account.
func (p *Provisioner) deactivate(ctx context.Context, _ *command.Checked, c *customer.Customer, now time.Time) error {
	if err := c.Deactivate(now); err != nil {
		return refuse(err)
	}
	if c.TwilioSID() != "" {
		if _, err := p.cfg.Twilio.Suspend(ctx, c.TwilioSID()); err != nil {
			return p.dependency("suspend the Twilio sub-account", err)
		}
	}
	return nil
}
