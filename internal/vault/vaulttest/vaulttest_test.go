package vaulttest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/textkit/customers/internal/vault/vaulttest"
)

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// TestDevServerRestartForgets shows what a dev server does across Stop and
// Start: same address and root token, no data.
func TestDevServerRestartForgets(t *testing.T) {
	srv := vaulttest.Start(t)
	root := srv.Root(t)
	if err := root.Sys().PutPolicyWithContext(ctx(t), "probe", `path "x" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	if _, err := root.Sys().HealthWithContext(ctx(t)); err == nil {
		t.Fatal("health answered while stopped")
	}
	srv.Start(t)
	got, err := root.Sys().GetPolicyWithContext(ctx(t), "probe")
	if err != nil {
		t.Fatalf("root token after restart: %v", err)
	}
	if got != "" {
		t.Errorf("policy after dev restart = %q, want it gone", got)
	}
	if out := srv.Output(); !strings.Contains(out, "Vault server started") {
		t.Errorf("output does not show the server start:\n%s", out)
	}
}

// TestPersistentServerKeepsData shows a persistent server keeps its data
// and its root token across a restart, and comes back sealed from Start.
func TestPersistentServerKeepsData(t *testing.T) {
	srv := vaulttest.StartPersistent(t)
	if srv.UnsealKey == "" || srv.RootToken == "" {
		t.Fatalf("unseal key %q, root token %q: want both set", srv.UnsealKey, srv.RootToken)
	}
	root := srv.Root(t)
	if err := root.Sys().PutPolicyWithContext(ctx(t), "probe", `path "x" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	srv.Start(t)
	h, err := root.Sys().HealthWithContext(ctx(t))
	if err != nil || !h.Sealed {
		t.Fatalf("health after Start = %+v, %v; want sealed", h, err)
	}
	srv.Unseal(t)
	got, err := root.Sys().GetPolicyWithContext(ctx(t), "probe")
	if err != nil || got == "" {
		t.Errorf("policy after restart = %q, %v; want it kept", got, err)
	}
	srv.Seal(t)
	srv.Restart(t) // stops, starts and unseals
	if h, err := root.Sys().HealthWithContext(ctx(t)); err != nil || h.Sealed {
		t.Errorf("health after Restart = %+v, %v; want unsealed", h, err)
	}
}
