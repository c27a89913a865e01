package vault

import (
	"context"
)

// Health checks that Vault is reachable, initialized and unsealed, for
// readiness probes. It needs no permissions (sys/health is public). A
// standby node counts as healthy: it forwards requests to the active one.
// Errors: ErrSealed, ErrUnavailable (unreachable, timeout, not initialized).
// With several addresses, Vault is healthy when any node is (the others
// are failed over), and the error is the first node's.
func (c *Client) Health(ctx context.Context) error {
	if c.nodes != nil {
		return healthAny(ctx, c.nodes, (*Client).health)
	}
	return c.health(ctx)
}

// health checks the one node c talks to.
func (c *Client) health(ctx context.Context) error {
	const op = "health"
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	h, err := c.api.Sys().HealthWithContext(ctx)
	if err != nil {
		return classify(op, "", err)
	}
	switch {
	case !h.Initialized:
		return &Error{Op: op, Reason: "vault is not initialized", kind: ErrUnavailable}
	case h.Sealed:
		return &Error{Op: op, Reason: "vault is sealed", kind: ErrSealed}
	}
	return nil
}
