package vault_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/textkit/customers/internal/vault"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

// One dev server for the package (vaulttest.Shared); tests that stop or
// seal Vault start their own.
func TestMain(m *testing.M) { os.Exit(vaulttest.Main(m)) }

// fixture is the shared server, bootstrapped once, with one adapter per
// service token and one with the root token.
type fixture struct {
	srv                                   *vaulttest.Server
	tokens                                vault.ServiceTokens
	root, gateway, provisioner, retention *vault.Client
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
)

// shared returns the bootstrapped shared server.
func shared(t testing.TB) *fixture {
	t.Helper()
	srv := vaulttest.Shared(t)
	fixOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		fix.srv = srv
		fix.tokens, fixErr = vault.Bootstrap(ctx, srv.Root(t))
		if fixErr != nil {
			return
		}
		fix.root = srv.Client(t, srv.RootToken)
		fix.gateway = srv.Client(t, fix.tokens.Gateway)
		fix.provisioner = srv.Client(t, fix.tokens.Provisioner)
		fix.retention = srv.Client(t, fix.tokens.Retention)
	})
	if fixErr != nil {
		t.Fatalf("bootstrap shared vault: %v", fixErr)
	}
	return &fix
}

// newID returns a fresh customer id (a random UUID), so tests sharing the
// server never share keys.
func newID(t testing.TB) string {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// ctx returns a context bounded well below the test timeout.
func ctx(t testing.TB) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// isStatus reports whether err is a Vault API response with the status.
func isStatus(err error, status int) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == status
}
