package vault_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/textkit/customers/internal/vault"
)

func TestEncryptDecryptRoundTrip(t *testing.T) {
	f := shared(t)
	id := newID(t)
	if err := f.retention.CreateKey(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		plaintext []byte
	}{
		{"json contact", []byte(`{"businessName":"ACME Corporation Inc.","phoneNumber":"+14165551212"}`)},
		{"empty", []byte{}},
		{"binary", []byte{0, 1, 2, 0xff, 0xfe}},
		{"unicode", []byte("Café Ünïcødé 北京")},
		{"large", bytes.Repeat([]byte("a"), 64<<10)},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The provisioner writes, the gateway reads: same key, two tokens.
			ct, err := f.provisioner.Encrypt(ctx(t), id, c.plaintext)
			if err != nil {
				t.Fatalf("Encrypt: %v", err)
			}
			if !strings.HasPrefix(ct, "vault:v1:") {
				t.Errorf("ciphertext prefix = %q, want vault:v1:", ct[:min(len(ct), 9)])
			}
			got, err := f.gateway.Decrypt(ctx(t), id, ct)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if !bytes.Equal(got, c.plaintext) {
				t.Errorf("Decrypt = %q, want %q", got, c.plaintext)
			}
		})
	}
}

func TestEncryptBatchRoundTrip(t *testing.T) {
	f := shared(t)
	id := newID(t)
	if err := f.retention.CreateKey(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 3, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			in := make([][]byte, n)
			for i := range in {
				in[i] = []byte(fmt.Sprintf(`{"item":%d}`, i))
			}
			if n == 3 {
				in[1] = []byte{} // an empty item in the middle keeps its place
			}
			cts, err := f.gateway.EncryptBatch(ctx(t), id, in)
			if err != nil {
				t.Fatalf("EncryptBatch: %v", err)
			}
			if got, want := len(cts), n; got != want {
				t.Fatalf("len(ciphertexts) = %d, want %d", got, want)
			}
			got, err := f.gateway.DecryptBatch(ctx(t), id, cts)
			if err != nil {
				t.Fatalf("DecryptBatch: %v", err)
			}
			if len(got) != n {
				t.Fatalf("len(plaintexts) = %d, want %d", len(got), n)
			}
			for i := range in {
				if !bytes.Equal(got[i], in[i]) {
					t.Errorf("item %d = %q, want %q", i, got[i], in[i])
				}
			}
			// Single and batch ciphertexts are interchangeable.
			if n > 0 {
				p, err := f.gateway.Decrypt(ctx(t), id, cts[n-1])
				if err != nil || !bytes.Equal(p, in[n-1]) {
					t.Errorf("Decrypt(batch ciphertext) = %q, %v; want %q", p, err, in[n-1])
				}
			}
		})
	}
}

func TestEncryptMissingKeyDoesNotCreateIt(t *testing.T) {
	f := shared(t)
	// Even the root token, which could create keys, must not get one
	// implicitly: disable_upsert is a property of the mount.
	for _, c := range []struct {
		name   string
		client *vault.Client
	}{
		{"gateway", f.gateway},
		{"provisioner", f.provisioner},
		{"root", f.root},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := newID(t)
			_, err := c.client.Encrypt(ctx(t), id, []byte("secret"))
			if !errors.Is(err, vault.ErrKeyNotFound) {
				t.Errorf("Encrypt = %v, want ErrKeyNotFound", err)
			}
			if vault.IsTransient(err) {
				t.Errorf("IsTransient(%v) = true, want false", err)
			}
			_, err = c.client.EncryptBatch(ctx(t), id, [][]byte{[]byte("a"), []byte("b")})
			if !errors.Is(err, vault.ErrKeyNotFound) {
				t.Errorf("EncryptBatch = %v, want ErrKeyNotFound", err)
			}
			_, err = c.client.Decrypt(ctx(t), id, "vault:v1:AAAA")
			if c.client == f.provisioner {
				// The provisioner may not decrypt at all.
				if !errors.Is(err, vault.ErrForbidden) {
					t.Errorf("provisioner Decrypt = %v, want ErrForbidden", err)
				}
			} else if !errors.Is(err, vault.ErrKeyNotFound) {
				t.Errorf("Decrypt = %v, want ErrKeyNotFound", err)
			}
			if exists, err := f.retention.KeyStatus(ctx(t), id); err != nil || exists {
				t.Errorf("KeyStatus after encrypt = %v, %v; want false, nil", exists, err)
			}
		})
	}
}

func TestDecryptRejectsBadCiphertext(t *testing.T) {
	f := shared(t)
	id, other := newID(t), newID(t)
	for _, k := range []string{id, other} {
		if err := f.retention.CreateKey(ctx(t), k); err != nil {
			t.Fatal(err)
		}
	}
	ct, err := f.gateway.Encrypt(ctx(t), id, []byte("+14165551212"))
	if err != nil {
		t.Fatal(err)
	}
	otherCT, err := f.gateway.Encrypt(ctx(t), other, []byte("+14165551212"))
	if err != nil {
		t.Fatal(err)
	}
	tampered := ct[:len(ct)-4] + "AAA="
	for _, c := range []struct {
		name, ciphertext string
	}{
		{"tampered", tampered},
		{"another customer's key", otherCT},
		{"no prefix", "bm90IGNpcGhlcnRleHQ="},
		{"empty", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.gateway.Decrypt(ctx(t), id, c.ciphertext)
			if !errors.Is(err, vault.ErrInvalid) {
				t.Errorf("Decrypt = %v, want ErrInvalid", err)
			}
			if vault.IsTransient(err) {
				t.Errorf("IsTransient = true, want false")
			}
			if c.ciphertext != "" && strings.Contains(err.Error(), c.ciphertext) {
				t.Errorf("error %q contains the ciphertext", err)
			}
			_, err = f.gateway.DecryptBatch(ctx(t), id, []string{ct, c.ciphertext})
			if !errors.Is(err, vault.ErrInvalid) {
				t.Errorf("DecryptBatch = %v, want ErrInvalid", err)
			}
		})
	}
}
