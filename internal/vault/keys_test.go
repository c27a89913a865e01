package vault_test

import (
	"errors"
	"testing"

	"github.com/textkit/customers/internal/vault"
)

func TestKeyName(t *testing.T) {
	if got, want := vault.KeyName("e4c81004-1a4c-477f-97e3-b67022e9a351"), "customer-e4c81004-1a4c-477f-97e3-b67022e9a351"; got != want {
		t.Errorf("KeyName = %q, want %q", got, want)
	}
}

func TestCreateKeyIsIdempotentAndLocked(t *testing.T) {
	f := shared(t)
	id := newID(t)
	for i := range 2 {
		if err := f.retention.CreateKey(ctx(t), id); err != nil {
			t.Fatalf("CreateKey #%d: %v", i+1, err)
		}
	}
	// The key's settings are what the data-protection rules demand.
	s, err := f.srv.Root(t).Logical().ReadWithContext(ctx(t), "transit/keys/"+vault.KeyName(id))
	if err != nil || s == nil {
		t.Fatalf("read key: %v, %v", s, err)
	}
	for _, c := range []struct {
		field string
		want  any
	}{
		{"type", "aes256-gcm96"},
		{"exportable", false},
		{"allow_plaintext_backup", false},
		{"deletion_allowed", false},
	} {
		if got := s.Data[c.field]; got != c.want {
			t.Errorf("key %s = %v, want %v", c.field, got, c.want)
		}
	}
}

func TestKeyStatus(t *testing.T) {
	f := shared(t)
	id := newID(t)
	for _, c := range []struct {
		name   string
		client *vault.Client
	}{
		{"gateway", f.gateway},
		{"provisioner", f.provisioner},
		{"retention", f.retention},
	} {
		got, err := c.client.KeyStatus(ctx(t), id)
		if err != nil || got {
			t.Errorf("%s: KeyStatus before create = %v, %v; want false, nil", c.name, got, err)
		}
	}
	if err := f.retention.CreateKey(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		client *vault.Client
	}{
		{"gateway", f.gateway},
		{"provisioner", f.provisioner},
		{"retention", f.retention},
	} {
		got, err := c.client.KeyStatus(ctx(t), id)
		if err != nil || !got {
			t.Errorf("%s: KeyStatus after create = %v, %v; want true, nil", c.name, got, err)
		}
	}
}

func TestDestroyKeyShredsCiphertext(t *testing.T) {
	f := shared(t)
	id := newID(t)
	if err := f.retention.CreateKey(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	ct, err := f.provisioner.Encrypt(ctx(t), id, []byte(`{"phoneNumber":"+14165551212"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.retention.DestroyKey(ctx(t), id); err != nil {
		t.Fatalf("DestroyKey: %v", err)
	}

	exists, err := f.retention.KeyStatus(ctx(t), id)
	if err != nil || exists {
		t.Errorf("KeyStatus after destroy = %v, %v; want false, nil", exists, err)
	}
	if _, err := f.gateway.Decrypt(ctx(t), id, ct); !errors.Is(err, vault.ErrKeyNotFound) {
		t.Errorf("Decrypt after destroy: err = %v, want ErrKeyNotFound", err)
	}
	if _, err := f.gateway.DecryptBatch(ctx(t), id, []string{ct}); !errors.Is(err, vault.ErrKeyNotFound) {
		t.Errorf("DecryptBatch after destroy: err = %v, want ErrKeyNotFound", err)
	}
	// Encrypt must not bring the key back (disable_upsert).
	if _, err := f.gateway.Encrypt(ctx(t), id, []byte("x")); !errors.Is(err, vault.ErrKeyNotFound) {
		t.Errorf("Encrypt after destroy: err = %v, want ErrKeyNotFound", err)
	}
	if exists, _ := f.retention.KeyStatus(ctx(t), id); exists {
		t.Error("key exists again after Encrypt; disable_upsert is not in effect")
	}
	// Destroying again, or a key that never existed, is done already.
	if err := f.retention.DestroyKey(ctx(t), id); err != nil {
		t.Errorf("second DestroyKey = %v, want nil", err)
	}
	if err := f.retention.DestroyKey(ctx(t), newID(t)); err != nil {
		t.Errorf("DestroyKey of a never-created key = %v, want nil", err)
	}
}

func TestKeyIsNotExportable(t *testing.T) {
	f := shared(t)
	id := newID(t)
	if err := f.retention.CreateKey(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	name := vault.KeyName(id)
	// Even root cannot export or back up the key: it was created
	// non-exportable without plaintext backup.
	root := f.srv.Root(t)
	for _, path := range []string{
		"transit/export/encryption-key/" + name,
		"transit/export/encryption-key/" + name + "/latest",
		"transit/backup/" + name,
	} {
		s, err := root.Logical().ReadWithContext(ctx(t), path)
		if err == nil {
			t.Errorf("root read %s: got %v, want an error", path, s)
		}
	}
	// And the service tokens are not even allowed to ask.
	for _, c := range []struct {
		name  string
		token string
	}{
		{"gateway", f.tokens.Gateway},
		{"provisioner", f.tokens.Provisioner},
		{"retention", f.tokens.Retention},
	} {
		cl := f.srv.Root(t)
		cl.SetToken(c.token)
		for _, path := range []string{"transit/export/encryption-key/" + name, "transit/backup/" + name} {
			_, err := cl.Logical().ReadWithContext(ctx(t), path)
			if !isStatus(err, 403) {
				t.Errorf("%s read %s: err = %v, want 403", c.name, path, err)
			}
		}
	}
}

func TestInvalidCustomerID(t *testing.T) {
	f := shared(t)
	for _, id := range []string{"", "a/../../sys/seal", "x?y", "..", "a b"} {
		err := f.retention.CreateKey(ctx(t), id)
		if !errors.Is(err, vault.ErrInvalid) {
			t.Errorf("CreateKey(%q) = %v, want ErrInvalid", id, err)
		}
	}
}
