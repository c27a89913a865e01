package vault

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
)

// Encrypt encrypts plaintext with the customer's key and returns transit
// ciphertext ("vault:v1:..."). The key must exist: Vault does not create
// keys on encrypt once Bootstrap has set disable_upsert. Errors:
// ErrKeyNotFound, ErrForbidden, ErrInvalid, ErrUnavailable/ErrSealed.
func (c *Client) Encrypt(ctx context.Context, customerID string, plaintext []byte) (string, error) {
	const op = "encrypt"
	if err := checkID(op, customerID); err != nil {
		return "", err
	}
	name := KeyName(customerID)
	callCtx, cancel := c.withTimeout(ctx)
	defer cancel()
	s, err := c.api.Logical().WriteWithContext(callCtx, c.path("encrypt", name), map[string]any{
		"plaintext": base64.StdEncoding.EncodeToString(plaintext),
	})
	if err != nil {
		return "", c.encryptError(ctx, op, customerID, err)
	}
	if s == nil {
		return "", &Error{Op: op, Key: name, Reason: "vault returned no data", kind: ErrInvalid}
	}
	ct, _ := s.Data["ciphertext"].(string)
	if ct == "" {
		return "", &Error{Op: op, Key: name, Reason: "vault returned no ciphertext", kind: ErrInvalid}
	}
	return ct, nil
}

// EncryptBatch encrypts several plaintexts with the customer's key in one
// round trip (transit batch_input) and returns the ciphertexts in the same
// order. It is all or nothing: if any item fails, it returns an error and
// no ciphertexts. An empty batch returns an empty slice without calling
// Vault. Errors: as Encrypt.
func (c *Client) EncryptBatch(ctx context.Context, customerID string, plaintexts [][]byte) ([]string, error) {
	const op = "encrypt batch"
	if err := checkID(op, customerID); err != nil {
		return nil, err
	}
	if len(plaintexts) == 0 {
		return []string{}, nil
	}
	name := KeyName(customerID)
	items := make([]map[string]any, len(plaintexts))
	for i, p := range plaintexts {
		items[i] = map[string]any{"plaintext": base64.StdEncoding.EncodeToString(p)}
	}
	results, err := c.batch(ctx, op, name, "encrypt", items)
	if err != nil {
		return nil, c.encryptError(ctx, op, customerID, err)
	}
	out := make([]string, len(results))
	for i, r := range results {
		ct, _ := r["ciphertext"].(string)
		if ct == "" {
			return nil, &Error{Op: op, Key: name, Reason: fmt.Sprintf("item %d: vault returned no ciphertext", i), kind: ErrInvalid}
		}
		out[i] = ct
	}
	return out, nil
}

// encryptError classifies a failed encrypt. Transit treats an encrypt with
// a missing key as a create (it could upsert the key), so Vault's ACL asks
// for the create capability, which the service policies deliberately lack,
// and answers 403 before transit can say "encryption key not found". A 403
// is therefore checked against KeyStatus: if the key is missing, the
// answer is ErrKeyNotFound; if the check fails too, ErrForbidden stands.
func (c *Client) encryptError(ctx context.Context, op, customerID string, err error) error {
	var e *Error
	if !errors.As(err, &e) {
		e = classify(op, KeyName(customerID), err).(*Error)
	}
	if !errors.Is(e, ErrForbidden) {
		return e
	}
	if exists, serr := c.KeyStatus(ctx, customerID); serr == nil && !exists {
		return &Error{Op: op, Key: e.Key, Status: e.Status, Reason: "key does not exist", kind: ErrKeyNotFound}
	}
	return e
}

// batch sends a transit batch request and returns batch_results, checked
// for count and per-item errors. Vault answers 400 when any item fails, so
// per-item errors are rare here; they are checked anyway.
func (c *Client) batch(ctx context.Context, op, name, endpoint string, items []map[string]any) ([]map[string]any, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	s, err := c.api.Logical().WriteWithContext(ctx, c.path(endpoint, name), map[string]any{
		"batch_input": items,
	})
	if err != nil {
		return nil, classify(op, name, err)
	}
	if s == nil {
		return nil, &Error{Op: op, Key: name, Reason: "vault returned no data", kind: ErrInvalid}
	}
	raw, _ := s.Data["batch_results"].([]any)
	if len(raw) != len(items) {
		return nil, &Error{Op: op, Key: name, Reason: fmt.Sprintf("vault returned %d results for %d items", len(raw), len(items)), kind: ErrInvalid}
	}
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		m, ok := r.(map[string]any)
		if !ok {
			return nil, &Error{Op: op, Key: name, Reason: fmt.Sprintf("item %d: unexpected result", i), kind: ErrInvalid}
		}
		if msg, _ := m["error"].(string); msg != "" {
			return nil, &Error{Op: op, Key: name, Reason: fmt.Sprintf("item %d: %s", i, redact(msg)), kind: kindForStatus(400, []string{msg})}
		}
		out[i] = m
	}
	return out, nil
}
