package vault_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/textkit/customers/internal/vault"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

func TestBootstrapIsIdempotent(t *testing.T) {
	f := shared(t) // bootstrapped once already
	again, err := vault.Bootstrap(ctx(t), f.srv.Root(t))
	if err != nil {
		t.Fatalf("second Bootstrap: %v", err)
	}
	if again == f.tokens {
		t.Error("second Bootstrap returned the same tokens, want fresh ones")
	}
	// Earlier tokens stay valid, so running services keep working.
	if _, err := f.gateway.KeyStatus(ctx(t), newID(t)); err != nil {
		t.Errorf("first gateway token after second Bootstrap: %v", err)
	}
	s, err := f.srv.Root(t).Logical().ReadWithContext(ctx(t), "transit/config/keys")
	if err != nil || s == nil {
		t.Fatalf("read transit/config/keys: %v, %v", s, err)
	}
	if got := s.Data["disable_upsert"]; got != true {
		t.Errorf("disable_upsert = %v, want true", got)
	}
}

func TestBootstrapTokens(t *testing.T) {
	f := shared(t)
	for _, c := range []struct {
		token, policy, service string
	}{
		{f.tokens.Gateway, vault.PolicyGateway, "gateway"},
		{f.tokens.Provisioner, vault.PolicyProvisioner, "provisioner"},
		{f.tokens.Retention, vault.PolicyRetention, "retention"},
	} {
		t.Run(c.service, func(t *testing.T) {
			s, err := f.srv.Root(t).Auth().Token().LookupWithContext(ctx(t), c.token)
			if err != nil {
				t.Fatalf("lookup: %v", err)
			}
			policies, _ := s.TokenPolicies()
			if want := []string{c.policy}; !slices.Equal(policies, want) {
				t.Errorf("policies = %v, want %v (no default policy)", policies, want)
			}
			if renewable, _ := s.TokenIsRenewable(); !renewable {
				t.Error("token is not renewable")
			}
			if ttl, _ := s.TokenTTL(); ttl < vault.TokenTTL-time.Hour || ttl > vault.TokenTTL {
				t.Errorf("ttl = %v, want about %v", ttl, vault.TokenTTL)
			}
			if orphan, _ := s.Data["orphan"].(bool); !orphan {
				t.Error("token is not an orphan: revoking the root token would revoke it")
			}
			meta, _ := s.TokenMetadata()
			if got := meta["service"]; got != c.service {
				t.Errorf("meta service = %q, want %q", got, c.service)
			}
			// The service can look itself up and renew (the parts of the
			// default policy it needs).
			self := f.srv.Root(t)
			self.SetToken(c.token)
			if _, err := self.Auth().Token().LookupSelfWithContext(ctx(t)); err != nil {
				t.Errorf("lookup-self: %v", err)
			}
			ttl, err := f.srv.Client(t, c.token).RenewToken(ctx(t))
			if err != nil || ttl < vault.TokenTTL-time.Hour {
				t.Errorf("RenewToken = %v, %v; want about %v", ttl, err, vault.TokenTTL)
			}
		})
	}
}

func TestBootstrapRefusals(t *testing.T) {
	f := shared(t)
	// A service token cannot bootstrap.
	gw := f.srv.Root(t)
	gw.SetToken(f.tokens.Gateway)
	if _, err := vault.Bootstrap(ctx(t), gw); !errors.Is(err, vault.ErrForbidden) {
		t.Errorf("Bootstrap with the gateway token = %v, want ErrForbidden", err)
	}

	// Another engine at transit/ is not silently used.
	srv := vaulttest.Start(t)
	root := srv.Root(t)
	if err := root.Sys().MountWithContext(ctx(t), "transit", &api.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.Bootstrap(ctx(t), root); !errors.Is(err, vault.ErrInvalid) {
		t.Errorf("Bootstrap over a kv mount at transit/ = %v, want ErrInvalid", err)
	}

	// A stopped Vault is a transient failure.
	srv.Stop(t)
	if _, err := vault.Bootstrap(ctx(t), root); !vault.IsTransient(err) {
		t.Errorf("Bootstrap against a stopped Vault = %v, want transient", err)
	}
}

// TestPoliciesAreWhatVaultStores checks Bootstrap wrote the files in
// policies/ verbatim, so reading those files tells what each service may do.
func TestPoliciesAreWhatVaultStores(t *testing.T) {
	f := shared(t)
	for _, name := range []string{vault.PolicyGateway, vault.PolicyProvisioner, vault.PolicyRetention} {
		want, err := os.ReadFile(filepath.Join("policies", name+".hcl"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.srv.Root(t).Sys().GetPolicyWithContext(ctx(t), name)
		if err != nil {
			t.Fatalf("read policy %s: %v", name, err)
		}
		if got != string(want) {
			t.Errorf("policy %s in Vault differs from policies/%s.hcl", name, name)
		}
	}
}
