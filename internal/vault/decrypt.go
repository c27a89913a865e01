package vault

import (
	"context"
	"encoding/base64"
	"fmt"
)

// Decrypt decrypts transit ciphertext made by Encrypt with the customer's
// key. After DestroyKey it fails with ErrKeyNotFound forever. Errors:
// ErrKeyNotFound, ErrForbidden, ErrInvalid (malformed or tampered
// ciphertext, or ciphertext of another key), ErrUnavailable/ErrSealed.
func (c *Client) Decrypt(ctx context.Context, customerID, ciphertext string) ([]byte, error) {
	const op = "decrypt"
	if err := checkID(op, customerID); err != nil {
		return nil, err
	}
	name := KeyName(customerID)
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	s, err := c.api.Logical().WriteWithContext(ctx, c.path("decrypt", name), map[string]any{
		"ciphertext": ciphertext,
	})
	if err != nil {
		return nil, classify(op, name, err)
	}
	if s == nil {
		return nil, &Error{Op: op, Key: name, Reason: "vault returned no data", kind: ErrInvalid}
	}
	return decodePlaintext(op, name, s.Data["plaintext"])
}

// DecryptBatch decrypts several ciphertexts of one customer in one round
// trip and returns the plaintexts in the same order. It is all or nothing,
// like EncryptBatch. Errors: as Decrypt.
func (c *Client) DecryptBatch(ctx context.Context, customerID string, ciphertexts []string) ([][]byte, error) {
	const op = "decrypt batch"
	if err := checkID(op, customerID); err != nil {
		return nil, err
	}
	if len(ciphertexts) == 0 {
		return [][]byte{}, nil
	}
	name := KeyName(customerID)
	items := make([]map[string]any, len(ciphertexts))
	for i, ct := range ciphertexts {
		items[i] = map[string]any{"ciphertext": ct}
	}
	results, err := c.batch(ctx, op, name, "decrypt", items)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(results))
	for i, r := range results {
		p, err := decodePlaintext(op, name, r["plaintext"])
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		out[i] = p
	}
	return out, nil
}

// decodePlaintext decodes the base64 plaintext transit returns. Vault omits
// the field for an empty plaintext.
func decodePlaintext(op, name string, v any) ([]byte, error) {
	if v == nil {
		return []byte{}, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, &Error{Op: op, Key: name, Reason: "vault returned a non-string plaintext", kind: ErrInvalid}
	}
	p, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		// The decode error names an offset, never the data.
		return nil, &Error{Op: op, Key: name, Reason: "vault returned plaintext that is not base64", kind: ErrInvalid}
	}
	return p, nil
}
