package vault_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/textkit/customers/internal/vault"
)

// TestLeastPrivilege proves the policy table with the tokens Bootstrap
// made: every service can do what it needs and is refused (403,
// ErrForbidden) the rest. Every operation targets a key that exists, so a
// refusal is the policy talking, not a missing key.
func TestLeastPrivilege(t *testing.T) {
	f := shared(t)
	id := newID(t)
	name := vault.KeyName(id)
	if err := f.retention.CreateKey(ctx(t), id); err != nil {
		t.Fatalf("retention CreateKey: %v", err)
	}
	ct, err := f.root.Encrypt(ctx(t), id, []byte(`{"phoneNumber":"+14165551212"}`))
	if err != nil {
		t.Fatal(err)
	}

	type actor struct {
		token string
		c     *vault.Client
	}
	// raw is an API client with the actor's token, for paths the adapter
	// has no method for.
	raw := func(a actor) *api.Client {
		ac := f.srv.Root(t)
		ac.SetToken(a.token)
		return ac
	}
	ops := map[string]func(ctx context.Context, a actor) error{
		"create key": func(ctx context.Context, a actor) error {
			return a.c.CreateKey(ctx, newID(t))
		},
		"create existing key": func(ctx context.Context, a actor) error {
			return a.c.CreateKey(ctx, id)
		},
		"key status": func(ctx context.Context, a actor) error {
			_, err := a.c.KeyStatus(ctx, id)
			return err
		},
		"encrypt": func(ctx context.Context, a actor) error {
			_, err := a.c.Encrypt(ctx, id, []byte("x"))
			return err
		},
		"encrypt batch": func(ctx context.Context, a actor) error {
			_, err := a.c.EncryptBatch(ctx, id, [][]byte{[]byte("x")})
			return err
		},
		"decrypt": func(ctx context.Context, a actor) error {
			_, err := a.c.Decrypt(ctx, id, ct)
			return err
		},
		"decrypt batch": func(ctx context.Context, a actor) error {
			_, err := a.c.DecryptBatch(ctx, id, []string{ct})
			return err
		},
		// The capability is the same for true and false; false keeps the
		// key protected for the rest of the test.
		"key config": func(ctx context.Context, a actor) error {
			_, err := raw(a).Logical().WriteWithContext(ctx, "transit/keys/"+name+"/config", map[string]any{"deletion_allowed": false})
			return err
		},
		"rotate key": func(ctx context.Context, a actor) error {
			_, err := raw(a).Logical().WriteWithContext(ctx, "transit/keys/"+name+"/rotate", nil)
			return err
		},
		"delete key": func(ctx context.Context, a actor) error {
			_, err := raw(a).Logical().DeleteWithContext(ctx, "transit/keys/"+name)
			return err
		},
		"destroy key": func(ctx context.Context, a actor) error {
			return a.c.DestroyKey(ctx, id)
		},
		"data key": func(ctx context.Context, a actor) error {
			_, err := raw(a).Logical().WriteWithContext(ctx, "transit/datakey/plaintext/"+name, nil)
			return err
		},
		"rewrap": func(ctx context.Context, a actor) error {
			_, err := raw(a).Logical().WriteWithContext(ctx, "transit/rewrap/"+name, map[string]any{"ciphertext": ct})
			return err
		},
		"export": func(ctx context.Context, a actor) error {
			_, err := raw(a).Logical().ReadWithContext(ctx, "transit/export/encryption-key/"+name)
			return err
		},
		"backup": func(ctx context.Context, a actor) error {
			_, err := raw(a).Logical().ReadWithContext(ctx, "transit/backup/"+name)
			return err
		},
		"write policy": func(ctx context.Context, a actor) error {
			return raw(a).Sys().PutPolicyWithContext(ctx, "textkit-gateway", `path "*" { capabilities = ["sudo"] }`)
		},
		"create token": func(ctx context.Context, a actor) error {
			_, err := raw(a).Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{})
			return err
		},
		"renew own token": func(ctx context.Context, a actor) error {
			_, err := a.c.RenewToken(ctx)
			return err
		},
	}
	user := []string{"key status", "encrypt", "encrypt batch", "decrypt", "decrypt batch", "renew own token"}
	userDenied := []string{"create key", "create existing key", "key config", "rotate key", "delete key", "destroy key",
		"data key", "rewrap", "export", "backup", "write policy", "create token"}
	for _, c := range []struct {
		service          string
		actor            actor
		allowed, refused []string
	}{
		{"gateway", actor{f.tokens.Gateway, f.gateway}, user, userDenied},
		{"provisioner", actor{f.tokens.Provisioner, f.provisioner},
			[]string{"key status", "encrypt", "encrypt batch", "renew own token"},
			append([]string{"decrypt", "decrypt batch"}, userDenied...)},
		{"retention", actor{f.tokens.Retention, f.retention},
			[]string{"create key", "create existing key", "key status", "key config", "rotate key", "renew own token"},
			[]string{"encrypt", "encrypt batch", "decrypt", "decrypt batch", "data key", "rewrap", "export", "backup",
				"write policy", "create token"}},
	} {
		t.Run(c.service, func(t *testing.T) {
			for _, op := range c.allowed {
				if err := ops[op](ctx(t), c.actor); err != nil {
					t.Errorf("%s: %s = %v, want allowed", c.service, op, err)
				}
			}
			for _, op := range c.refused {
				err := ops[op](ctx(t), c.actor)
				if !errors.Is(err, vault.ErrForbidden) && !isStatus(err, 403) {
					t.Errorf("%s: %s = %v, want 403 / ErrForbidden", c.service, op, err)
				}
				if vault.IsTransient(err) {
					t.Errorf("%s: %s: IsTransient = true, want false", c.service, op)
				}
			}
			if exists, err := f.root.KeyStatus(ctx(t), id); err != nil || !exists {
				t.Fatalf("after %s: key exists = %v, %v; want true, nil", c.service, exists, err)
			}
		})
	}

	// Retention, and only retention, destroys the key.
	if err := f.retention.DestroyKey(ctx(t), id); err != nil {
		t.Fatalf("retention DestroyKey = %v, want nil", err)
	}
	if exists, err := f.root.KeyStatus(ctx(t), id); err != nil || exists {
		t.Errorf("after destroy: key exists = %v, %v; want false, nil", exists, err)
	}
}
