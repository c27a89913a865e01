package provisioner

import (
	"context"
	"errors"
	"time"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/failure"
	"github.com/textkit/customers/internal/keywait"
)

// activate makes the customer active once its key exists (awaitKey), and
// reopens the Twilio sub-account of a deactivated customer.
func (p *Provisioner) activate(ctx context.Context, chk *command.Checked, c *customer.Customer, now time.Time) error {
	reopen := c.Status() == customer.StatusDeactivated
	if err := c.Activate(now); err != nil {
		return refuse(err)
	}
	if err := p.awaitKey(ctx, chk.CustomerID); err != nil {
		if failure.IsTransient(err) {
			return err
		}
		return refuse(err)
	}
	if reopen && c.TwilioSID() != "" {
		if _, err := p.cfg.Twilio.Reopen(ctx, c.TwilioSID()); err != nil {
			return p.dependency("reopen the Twilio sub-account", err)
		}
	}
	return nil
}

// awaitKey waits, bounded, for retention to create the customer's key:
// registration and activation may arrive back to back. A key this process
// has seen exist is not asked for again (keysSeen).
func (p *Provisioner) awaitKey(ctx context.Context, customerID string) error {
	if p.keysSeen.has(customerID) {
		keyChecksTotal.WithLabelValues("remembered").Inc()
		return nil
	}
	err := keywait.Until(ctx, keywait.Policy{Limit: p.cfg.KeyWait, First: 50 * time.Millisecond, Ceiling: time.Second},
		func(ctx context.Context) (bool, error) {
			keyChecksTotal.WithLabelValues("vault").Inc()
			ok, err := p.cfg.Keys.KeyStatus(ctx, customerID)
			if err != nil {
				return false, p.transient("check the customer's key", err)
			}
			return ok, nil
		})
	if err == nil {
		p.keysSeen.add(customerID)
	}
	var ue *customer.Error
	if err == nil || failure.IsTransient(err) || errors.As(err, &ue) {
		return err
	}
	// What is left is ctx's end: the command is redelivered.
	return p.transient("wait for the customer's key", err)
}
