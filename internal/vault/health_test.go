package vault_test

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/textkit/customers/internal/vault"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

func TestHealth(t *testing.T) {
	f := shared(t)
	// sys/health needs no permissions: any token, even a bad one, works.
	for _, token := range []string{f.tokens.Gateway, f.tokens.Retention, "not-a-token"} {
		if err := f.srv.Client(t, token).Health(ctx(t)); err != nil {
			t.Errorf("Health = %v, want nil", err)
		}
	}
}

// TestTransientWhenDownOrSealed walks one persistent Vault through seal,
// stop and restart: every failure while Vault is sealed or down is
// transient, DestroyKey never claims success it did not get, and keys,
// ciphertext and service tokens survive the restart.
func TestTransientWhenDownOrSealed(t *testing.T) {
	srv := vaulttest.StartPersistent(t)
	tokens := srv.Bootstrap(t)
	gateway, retention := srv.Client(t, tokens.Gateway), srv.Client(t, tokens.Retention)
	id, doomed := newID(t), newID(t)
	for _, k := range []string{id, doomed} {
		if err := retention.CreateKey(ctx(t), k); err != nil {
			t.Fatal(err)
		}
	}
	plain := []byte(`{"businessName":"ACME Co."}`)
	ct, err := gateway.Encrypt(ctx(t), id, plain)
	if err != nil {
		t.Fatal(err)
	}

	// every runs each adapter call and checks it fails with want,
	// transiently.
	every := func(t *testing.T, want error) {
		t.Helper()
		for _, c := range []struct {
			name string
			err  error
		}{
			{"Health", gateway.Health(ctx(t))},
			{"Encrypt", func() error { _, err := gateway.Encrypt(ctx(t), id, plain); return err }()},
			{"EncryptBatch", func() error { _, err := gateway.EncryptBatch(ctx(t), id, [][]byte{plain}); return err }()},
			{"Decrypt", func() error { _, err := gateway.Decrypt(ctx(t), id, ct); return err }()},
			{"DecryptBatch", func() error { _, err := gateway.DecryptBatch(ctx(t), id, []string{ct}); return err }()},
			{"KeyStatus", func() error { _, err := retention.KeyStatus(ctx(t), id); return err }()},
			{"CreateKey", retention.CreateKey(ctx(t), newID(t))},
			{"DestroyKey", retention.DestroyKey(ctx(t), doomed)},
			{"RenewToken", func() error { _, err := gateway.RenewToken(ctx(t)); return err }()},
		} {
			if !errors.Is(c.err, want) {
				t.Errorf("%s = %v, want %v", c.name, c.err, want)
			}
			if !vault.IsTransient(c.err) {
				t.Errorf("%s: IsTransient(%v) = false, want true", c.name, c.err)
			}
		}
	}

	t.Run("sealed", func(t *testing.T) {
		srv.Seal(t)
		every(t, vault.ErrSealed)
		srv.Unseal(t)
	})
	t.Run("stopped", func(t *testing.T) {
		srv.Stop(t)
		every(t, vault.ErrUnavailable)
		srv.Start(t) // comes back sealed
		every(t, vault.ErrSealed)
		srv.Unseal(t)
	})
	t.Run("survives restart", func(t *testing.T) {
		got, err := gateway.Decrypt(ctx(t), id, ct)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Decrypt after restart = %q, %v; want %q", got, err, plain)
		}
		if exists, err := retention.KeyStatus(ctx(t), doomed); err != nil || !exists {
			t.Fatalf("failed DestroyKey calls removed the key: exists = %v, %v", exists, err)
		}
		if err := retention.DestroyKey(ctx(t), id); err != nil {
			t.Fatalf("DestroyKey = %v", err)
		}
		srv.Restart(t)
		if _, err := gateway.Decrypt(ctx(t), id, ct); !errors.Is(err, vault.ErrKeyNotFound) {
			t.Errorf("Decrypt after destroy and restart = %v, want ErrKeyNotFound", err)
		}
	})
}

// TestTimeoutIsTransient points the adapter at a listener that accepts
// connections and never answers, like a hung Vault.
func TestTimeoutIsTransient(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { _ = l.Close(); <-done })
	c, err := vault.New(vault.Config{Addr: "http://" + l.Addr().String(), Token: "t", Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Encrypt(ctx(t), "1", []byte("x"))
	if !errors.Is(err, vault.ErrUnavailable) || !vault.IsTransient(err) {
		t.Errorf("Encrypt against a hung server = %v, want a transient ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Encrypt took %v, want about the 100ms timeout", d)
	}
}
