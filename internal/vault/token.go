package vault

import (
	"context"
	"time"
)

// RenewToken renews the client's own token (auth/token/renew-self) and
// returns the TTL Vault granted. Long-running services call it well before
// the TTL Bootstrap gave their token (TokenTTL) runs out. Errors:
// ErrForbidden (expired or revoked token), ErrUnavailable/ErrSealed.
func (c *Client) RenewToken(ctx context.Context) (time.Duration, error) {
	const op = "renew token"
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	s, err := c.api.Auth().Token().RenewSelfWithContext(ctx, 0)
	if err != nil {
		return 0, classify(op, "", err)
	}
	if s == nil || s.Auth == nil {
		return 0, &Error{Op: op, Reason: "vault returned no auth data", kind: ErrInvalid}
	}
	return time.Duration(s.Auth.LeaseDuration) * time.Second, nil
}

// CheckToken looks the client's token up (lookup-self), so a service can
// refuse to start with a wrong or expired token instead of failing on its
// first request. It returns the token's remaining time to live (0 for a
// token that does not expire).
func (c *Client) CheckToken(ctx context.Context) (time.Duration, error) {
	const op = "look up token"
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	s, err := c.api.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return 0, classify(op, "", err)
	}
	if s == nil || s.Data == nil {
		return 0, &Error{Op: op, Reason: "vault returned no token data", kind: ErrInvalid}
	}
	ttl, err := s.TokenTTL()
	if err != nil {
		return 0, &Error{Op: op, Reason: "vault returned a malformed ttl", kind: ErrInvalid}
	}
	return ttl, nil
}

// KeepTokenAlive renews the client's token every interval until ctx ends,
// so a long-running service never reaches its token's TTL. Failures are
// reported to onError and retried at the next tick; they never stop it.
func (c *Client) KeepTokenAlive(ctx context.Context, interval time.Duration, onError func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := c.RenewToken(ctx); err != nil && ctx.Err() == nil && onError != nil {
				onError(err)
			}
		}
	}
}
