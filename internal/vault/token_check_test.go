package vault_test

import (
	"context"
	"errors"
	"testing"

	"github.com/textkit/customers/internal/vault"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

func TestCheckToken(t *testing.T) {
	vs := vaulttest.Shared(t)
	tokens := vs.Bootstrap(t)
	for name, tok := range map[string]string{"gateway": tokens.Gateway, "provisioner": tokens.Provisioner, "retention": tokens.Retention} {
		ttl, err := vs.Client(t, tok).CheckToken(context.Background())
		if err != nil || ttl <= 0 {
			t.Fatalf("%s token: ttl %v err %v", name, ttl, err)
		}
	}
	_, err := vs.Client(t, "hvs.not-a-token").CheckToken(context.Background())
	if !errors.Is(err, vault.ErrForbidden) {
		t.Fatalf("wrong token: got %v, want ErrForbidden", err)
	}
}
