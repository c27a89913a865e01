package vault

import (
	"context"
	"errors"
	"net/http"
)

// CreateKey creates the customer's transit key: aes256-gcm96, never
// exportable, no plaintext backup. Creating a key that already exists is
// not an error (Vault leaves the existing key untouched), so retries and
// redelivered commands are safe. Errors: ErrForbidden, ErrInvalid,
// ErrUnavailable/ErrSealed.
func (c *Client) CreateKey(ctx context.Context, customerID string) error {
	const op = "create key"
	if err := checkID(op, customerID); err != nil {
		return err
	}
	name := KeyName(customerID)
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	_, err := c.api.Logical().WriteWithContext(ctx, c.path("keys", name), map[string]any{
		"type":                   "aes256-gcm96",
		"exportable":             false,
		"allow_plaintext_backup": false,
		"deletion_allowed":       false,
	})
	return classify(op, name, err)
}

// KeyStatus reports whether the customer's key exists. It needs read access
// to transit/keys/customer-* (gateway, provisioner and retention have it).
// Errors: ErrForbidden, ErrInvalid (e.g. the mount is missing),
// ErrUnavailable/ErrSealed.
func (c *Client) KeyStatus(ctx context.Context, customerID string) (bool, error) {
	const op = "read key"
	if err := checkID(op, customerID); err != nil {
		return false, err
	}
	name := KeyName(customerID)
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	resp, err := c.api.Logical().ReadRawWithContext(ctx, c.path("keys", name))
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		err = classify(op, name, err)
		if errors.Is(err, ErrKeyNotFound) {
			return false, nil
		}
		return false, err
	}
	if resp.StatusCode != http.StatusOK {
		// 204 or similar: Vault answered but has no key to show.
		return false, nil
	}
	return true, nil
}

// DestroyKey deletes the customer's key for good (crypto-shredding): it
// first allows deletion on the key, then deletes it. It returns nil only
// when Vault confirmed the key is gone, including when it was already gone
// (a retried or concurrent destroy). Errors: ErrForbidden, ErrInvalid,
// ErrUnavailable/ErrSealed; on error the key may have had deletion_allowed
// set, which a retry completes.
func (c *Client) DestroyKey(ctx context.Context, customerID string) error {
	const op = "destroy key"
	if err := checkID(op, customerID); err != nil {
		return err
	}
	name := KeyName(customerID)
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()

	_, err := c.api.Logical().WriteWithContext(ctx, c.path("keys", name, "config"), map[string]any{
		"deletion_allowed": true,
	})
	if err := classify(op, name, err); err != nil {
		if errors.Is(err, ErrKeyNotFound) {
			return nil
		}
		return err
	}

	_, err = c.api.Logical().DeleteWithContext(ctx, c.path("keys", name))
	if err := classify(op, name, err); err != nil {
		if errors.Is(err, ErrKeyNotFound) {
			return nil
		}
		return err
	}
	return nil
}
