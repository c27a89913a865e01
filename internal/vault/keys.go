package vault

import (
	"context"
	"encoding/json"
	"errors"
	"io"
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
		// a read body: closing it loses nothing
		defer func() { _ = resp.Body.Close() }()
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
// first allows deletion on the key, then deletes it, then reads the key
// back. It returns nil only when that read confirms the key does not exist
// (Vault's own 404 for the key), also when it was gone already (a retried
// or concurrent destroy). A "not found" from the config or delete call is
// not taken on trust: an answer that only looks like one (a missing mount,
// a proxy's page) must not count as a destroyed key. Errors: ErrForbidden,
// ErrInvalid (also when the key still exists after the delete),
// ErrUnavailable/ErrSealed; on error the key may have had
// deletion_allowed set, which a retry completes.
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
	if err := classify(op, name, err); err != nil && !errors.Is(err, ErrKeyNotFound) {
		return err
	} else if err == nil {
		_, err = c.api.Logical().DeleteWithContext(ctx, c.path("keys", name))
		if err := classify(op, name, err); err != nil && !errors.Is(err, ErrKeyNotFound) {
			return err
		}
	}
	return c.confirmGone(ctx, op, name)
}

// confirmGone reads the key and returns nil only when Vault answers that it
// does not exist: HTTP 404 with the body transit gives for a missing key,
// {"errors":[]}. A 404 with anything else in it (no handler for the route:
// the mount is missing; a proxy's page or JSON) proves nothing.
func (c *Client) confirmGone(ctx context.Context, op, name string) error {
	resp, err := c.api.Logical().ReadRawWithContext(ctx, c.path("keys", name))
	if resp != nil {
		// a read body: closing it loses nothing
		defer func() { _ = resp.Body.Close() }()
	}
	if err != nil {
		err = classify(op, name, err)
		if !errors.Is(err, ErrKeyNotFound) {
			return err
		}
		if resp != nil && resp.StatusCode == http.StatusNotFound && missingKeyBody(resp.Body) {
			return nil
		}
		var e *Error
		errors.As(err, &e)
		return &Error{Op: op, Key: name, Status: e.Status, Reason: "not vault's answer for a missing key, so not proof it is gone", kind: ErrInvalid}
	}
	if resp.StatusCode == http.StatusOK {
		return &Error{Op: op, Key: name, Status: resp.StatusCode, Reason: "the key still exists after its deletion", kind: ErrInvalid}
	}
	return &Error{Op: op, Key: name, Status: resp.StatusCode, Reason: "reading the key back did not confirm it is gone", kind: ErrInvalid}
}

// missingKeyBody reports whether body is Vault's answer to a read of a
// path that has nothing: a JSON object whose only field is an empty
// "errors" list.
func missingKeyBody(body io.Reader) bool {
	var m map[string]json.RawMessage
	if err := json.NewDecoder(io.LimitReader(body, 4096)).Decode(&m); err != nil || len(m) != 1 {
		return false
	}
	var errs []string
	return json.Unmarshal(m["errors"], &errs) == nil && m["errors"] != nil && len(errs) == 0
}
