package provisioner

import (
	"context"
	"time"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
)

// updateContactInfo replaces the customer's contact info. Only ciphertext
// is stored: plaintext from a direct publisher is sealed with the
// customer's key first (seal); the gateway sends it sealed already.
func (p *Provisioner) updateContactInfo(ctx context.Context, chk *command.Checked, c *customer.Customer, now time.Time) error {
	if err := c.CanUpdateContactInfo(); err != nil {
		return refuse(err)
	}
	sealed := chk.Sealed
	if chk.Contact != nil {
		var err error
		sealed, err = p.seal(ctx, chk.CustomerID, *chk.Contact)
		if err != nil {
			return p.dependency("encrypt the contact info", err)
		}
	}
	if err := c.UpdateContactInfo(sealed, now); err != nil {
		return refuse(err)
	}
	return nil
}
