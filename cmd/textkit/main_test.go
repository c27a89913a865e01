package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/textkit/customers/internal/access"
	"github.com/textkit/customers/internal/natsbus/natstest"
	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/redisstore/redistest"
)

func runTextkit(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errw bytes.Buffer
	err := run(ctx, args, func(k string) string { return env[k] }, &out, &errw)
	return out.String() + errw.String(), err
}

// An operator seeds reference data, creates a partner key, sees it listed
// and revokes it; the store reflects each step at once.
func TestSeedAndAPIKeyLifecycle(t *testing.T) {
	rdb, rs := redistest.Start(t)
	store := redisstore.New(rdb)
	env := map[string]string{"TEXTKIT_REDIS_ADDR": rs.Addr, "TEXTKIT_REDIS_PASSWORD": rs.Password}
	ctx := context.Background()

	seed := filepath.Join("..", "..", "deploy", "seed.json")
	out, err := runTextkit(t, env, "seed", "-file", seed)
	if err != nil || !strings.Contains(out, "seeded 2 partners") {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	const partner = "25521a6f-b8d1-414b-8575-545430f076fd"
	// Both of the seed's partners: the docs' one and the second.
	for _, id := range []string{partner, natstest.SecondPartnerID} {
		if p, err := store.Partner(ctx, id); err != nil || p == nil {
			t.Fatalf("partner %s after seed: %v %v", id, p, err)
		}
	}

	out, err = runTextkit(t, env, "apikey", "create", "-role", "partner", "-partner", partner, "-name", "acme-backend", "-quiet")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	key := strings.TrimSpace(out)
	k, err := access.Authenticate(ctx, store, key)
	if err != nil || k.PartnerID != partner || k.Role != access.RolePartner {
		t.Fatalf("the created key does not authenticate as the partner: %+v %v", k, err)
	}
	out, err = runTextkit(t, env, "apikey", "list")
	if err != nil || !strings.Contains(out, k.ID) || !strings.Contains(out, "acme-backend") || strings.Contains(out, key) {
		t.Fatalf("list (must show the key's id, never the key): %v\n%s", err, out)
	}
	if out, err = runTextkit(t, env, "apikey", "revoke", "-id", k.ID); err != nil {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	if _, err := access.Authenticate(ctx, store, key); err == nil {
		t.Fatal("a revoked key still authenticates")
	}
	raw, err := rdb.Get(ctx, "apikey:{"+k.ID+"}").Result()
	if err != nil || strings.Contains(raw, strings.Split(key, "_")[2]) {
		t.Fatalf("the key's secret is stored in plaintext: %s", raw)
	}
}

func TestBadInvocationsSayWhatIsWrong(t *testing.T) {
	_, rs := redistest.Start(t)
	env := map[string]string{"TEXTKIT_REDIS_ADDR": rs.Addr, "TEXTKIT_REDIS_PASSWORD": rs.Password}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"partners":[{"id":"nope","name":"x"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{nil, "no subcommand"},
		{[]string{"explode"}, `unknown subcommand "explode"`},
		{[]string{"apikey"}, "want create, list or revoke"},
		{[]string{"apikey", "create", "-role", "king", "-name", "x"}, "-role must be partner or operator"},
		{[]string{"apikey", "create", "-role", "partner", "-name", "x"}, "-partner must be the partner's id"},
		{[]string{"apikey", "create", "-role", "partner", "-partner", "7d3c9a52-5c1e-4d4f-9a38-2f3a1b0c9d11", "-name", "x"}, "unknown partner"},
		{[]string{"apikey", "create", "-role", "operator"}, "-name is required"},
		{[]string{"apikey", "revoke", "-id", "000000000000"}, "no key with id"},
		{[]string{"seed", "-file", bad}, "needs a lowercase UUID id"},
		{[]string{"seed", "-file", "/nonexistent.json"}, "no such file"},
	}
	for _, tc := range cases {
		out, err := runTextkit(t, env, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("textkit %v: %v (output %q), want an error containing %q", tc.args, err, out, tc.want)
		}
	}
}
