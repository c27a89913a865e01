package vault

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
)

// Policy names Bootstrap writes, one per service, each from
// policies/<name>.hcl.
const (
	PolicyGateway     = "textkit-gateway"
	PolicyProvisioner = "textkit-provisioner"
	PolicyRetention   = "textkit-retention"
)

// TokenTTL is the TTL of the service tokens Bootstrap creates: 30 days,
// renewable. It suits a dev stack, which runs for days, not months: Vault
// also caps every non-periodic token at the token mount's max TTL (32 days
// by default) however often it is renewed, so after that re-run
// `textkit vault-init`. A production deployment gives services their
// tokens through an auth method (AppRole, Kubernetes) bound to the same
// policies instead.
const TokenTTL = 720 * time.Hour

// transitMount is where Bootstrap enables transit; the policies name it.
const transitMount = "transit"

//go:embed policies/*.hcl
var policyFiles embed.FS

// ServiceTokens are the Vault tokens Bootstrap made, one per service.
type ServiceTokens struct {
	Gateway     string
	Provisioner string
	Retention   string
}

// policy returns the embedded HCL of the named policy.
func policy(name string) (string, error) {
	b, err := policyFiles.ReadFile("policies/" + name + ".hcl")
	if err != nil {
		return "", fmt.Errorf("policy %s: %w", name, err)
	}
	return string(b), nil
}

// Bootstrap prepares Vault for TextKit with a root (or equally privileged)
// client: it enables the transit engine at transit/ unless it is there,
// sets disable_upsert so encrypt never creates keys, writes the three
// service policies, and creates one token per service. Everything but the
// tokens is idempotent; each run creates fresh tokens and leaves earlier
// ones valid until they expire, so running services keep working.
//
// Tokens are orphans (revoking the root token that made them does not
// revoke them), renewable, with TTL TokenTTL, and carry only their service
// policy: no default policy, which would also grant cubbyhole, response
// wrapping and other paths the services do not use. The policies grant the
// few default-policy paths the services need (lookup, renew and revoke
// self). Errors are classified like the Client's (ErrForbidden,
// ErrUnavailable, …).
func Bootstrap(ctx context.Context, root *api.Client) (ServiceTokens, error) {
	if root == nil {
		return ServiceTokens{}, errors.New("vault bootstrap: nil client")
	}
	if err := enableTransit(ctx, root); err != nil {
		return ServiceTokens{}, err
	}
	if _, err := root.Logical().WriteWithContext(ctx, transitMount+"/config/keys", map[string]any{
		"disable_upsert": true,
	}); err != nil {
		return ServiceTokens{}, classify("bootstrap: configure transit", "", err)
	}
	for _, name := range []string{PolicyGateway, PolicyProvisioner, PolicyRetention} {
		rules, err := policy(name)
		if err != nil {
			return ServiceTokens{}, fmt.Errorf("vault bootstrap: %w", err)
		}
		if err := root.Sys().PutPolicyWithContext(ctx, name, rules); err != nil {
			return ServiceTokens{}, classify("bootstrap: write policy "+name, "", err)
		}
	}
	var tokens ServiceTokens
	for _, t := range []struct {
		policy, service string
		dst             *string
	}{
		{PolicyGateway, "gateway", &tokens.Gateway},
		{PolicyProvisioner, "provisioner", &tokens.Provisioner},
		{PolicyRetention, "retention", &tokens.Retention},
	} {
		tok, err := createToken(ctx, root, t.policy, t.service)
		if err != nil {
			return ServiceTokens{}, err
		}
		*t.dst = tok
	}
	return tokens, nil
}

// enableTransit mounts transit at transit/ unless a transit engine is
// already there. Another secrets engine at that path is an error: writing
// keys into it would be wrong.
func enableTransit(ctx context.Context, root *api.Client) error {
	const op = "bootstrap: enable transit"
	check := func() (bool, error) {
		mounts, err := root.Sys().ListMountsWithContext(ctx)
		if err != nil {
			return false, classify(op, "", err)
		}
		m, ok := mounts[transitMount+"/"]
		if !ok {
			return false, nil
		}
		if m.Type != "transit" {
			return false, &Error{Op: op, Reason: fmt.Sprintf("%s/ is already a %q secrets engine", transitMount, m.Type), kind: ErrInvalid}
		}
		return true, nil
	}
	if ok, err := check(); ok || err != nil {
		return err
	}
	err := root.Sys().MountWithContext(ctx, transitMount, &api.MountInput{
		Type:        "transit",
		Description: "TextKit per-customer encryption keys",
	})
	if err == nil {
		return nil
	}
	// A concurrent bootstrap may have mounted it between list and mount.
	var re *api.ResponseError
	if errors.As(err, &re) && strings.Contains(strings.Join(re.Errors, " "), "path is already in use") {
		if ok, cerr := check(); ok || cerr != nil {
			return cerr
		}
	}
	return classify(op, "", err)
}

// createToken creates the orphan service token carrying only policyName.
func createToken(ctx context.Context, root *api.Client, policyName, service string) (string, error) {
	renewable := true
	s, err := root.Auth().Token().CreateOrphanWithContext(ctx, &api.TokenCreateRequest{
		Policies:        []string{policyName},
		NoDefaultPolicy: true,
		TTL:             TokenTTL.String(),
		Renewable:       &renewable,
		DisplayName:     policyName,
		Metadata:        map[string]string{"service": service, "created_by": "textkit vault-init"},
	})
	if err != nil {
		return "", classify("bootstrap: create token for "+service, "", err)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return "", &Error{Op: "bootstrap: create token for " + service, Reason: "vault returned no token", kind: ErrInvalid}
	}
	return s.Auth.ClientToken, nil
}
