package provisioner

import (
	"context"
	"encoding/json"

	"github.com/textkit/customers/internal/customer"
)

// seal encrypts plaintext contact info with the customer's transit key, so
// only ciphertext is stored.
func (p *Provisioner) seal(ctx context.Context, customerID string, ci customer.ContactInfo) (string, error) {
	b, err := json.Marshal(ci)
	if err != nil {
		return "", err
	}
	return p.cfg.Keys.Encrypt(ctx, customerID, b)
}
